import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { WAIT_MS } from "./timeouts.js";

/** True when a process with this pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return true;
  }
}

/** True when no live (non-zombie) process is left in the process group. */
export function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  // Only zombies may remain until their parent reaps them.
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[2]) === pgid && rest[0] !== "Z") return false;
    } catch {
      /* gone */
    }
  }
  return true;
}

/** Pids a fixture printed as `pid: <n>` lines into run.log. */
export function pidsInLog(ws: string, log = "run.log"): number[] {
  const text = fs.readFileSync(path.join(ws, log), "utf8");
  return [...text.matchAll(/^pid: (\d+)$/gm)].map((m) => Number(m[1]));
}

/**
 * Polls `cond` until it holds or `ms` pass; returns whether it held. Use `until` where the test
 * needs it to hold: that fails with a message naming what never happened.
 */
export async function waitUntil(cond: () => boolean, ms = WAIT_MS, step = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, step));
  }
  return cond();
}

/** Waits for an event (never for a time): throws "timed out after … waiting for <what>" if it does not come. */
export async function until(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  if (!(await waitUntil(cond, ms))) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `node <args>` in `cwd` to its end and collects its output; SIGTERM after `limitMs` (a
 * deadline for a hang, far above a slow run: the benches clean up and exit 130 on it).
 */
export function runNode(args: string[], cwd: string, limitMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), limitMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
