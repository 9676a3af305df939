import fs from "node:fs";
import type { ChildProcess } from "node:child_process";

/**
 * Finding and killing the processes of a run. A run is its process group, plus, on Linux, every
 * process whose environment carries the run's marker (one that left the group with setsid).
 * Zombies do not count: they are dead and wait only for their parent to reap them.
 */

export const RUN_MARKER_ENV = "AUTORESEARCH_RUN_ID";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A long-lived helper the server talks to over pipes (the source checker, the watchdog) is still
 * usable: not exited, not killed by a signal (from outside too: then only signalCode is set),
 * and its pipes are open.
 */
export function pipedChildUsable(p: ChildProcess | null): p is ChildProcess {
  return !!p && p.exitCode === null && p.signalCode === null && !p.killed && !p.stdin?.destroyed && !p.stdout?.readableEnded;
}

/** Such a helper must not keep the server alive on its own: neither it nor its pipes hold the event loop. */
export function unrefPiped(p: ChildProcess): void {
  p.unref();
  (p.stdin as { unref?: () => void } | null)?.unref?.();
  (p.stdout as { unref?: () => void } | null)?.unref?.();
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const hasProc = process.platform === "linux" && fs.existsSync("/proc/self/stat");

/**
 * Live (non-zombie) processes of a run: members of its process group, plus, on Linux, any process
 * whose environment carries the run's marker (it escaped the group with setsid).
 */
function runProcesses(pgid: number | null, runId: string, scanEnv = true): number[] {
  if (!hasProc) {
    if (pgid === null) return [];
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const found: number[] = [];
  const marker = Buffer.from(`${RUN_MARKER_ENV}=${runId}\0`);
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the parenthesised command name: state ppid pgrp ...
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") continue;
    if (pgid !== null && Number(rest[2]) === pgid) {
      found.push(pid);
      continue;
    }
    if (!scanEnv) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/environ`).includes(marker)) found.push(pid);
    } catch {
      /* not ours to read */
    }
  }
  return found;
}

function signalAll(pgid: number | null, pids: number[], sig: NodeJS.Signals): void {
  if (pgid !== null) {
    try {
      process.kill(-pgid, sig);
    } catch {
      /* group already gone */
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/**
 * SIGTERM to the whole tree, SIGKILL after `graceMs` to whatever is left, then wait until nothing
 * is left. Returns how long it took and how many processes survived (0 unless the OS refused).
 */
export async function killTree(pgid: number | null, runId: string, graceMs: number): Promise<{ latencyMs: number; survivors: number }> {
  const t0 = performance.now();
  let alive = runProcesses(pgid, runId);
  if (alive.length === 0) return { latencyMs: 0, survivors: 0 };
  signalAll(pgid, alive, "SIGTERM");
  const termDeadline = t0 + graceMs;
  while (performance.now() < termDeadline) {
    await sleep(25);
    alive = runProcesses(pgid, runId, false);
    if (alive.length === 0) break;
  }
  alive = runProcesses(pgid, runId);
  for (let i = 0; alive.length > 0 && i < 80; i++) {
    signalAll(pgid, alive, "SIGKILL");
    await sleep(25);
    alive = runProcesses(pgid, runId);
  }
  return { latencyMs: Math.round(performance.now() - t0), survivors: alive.length };
}

