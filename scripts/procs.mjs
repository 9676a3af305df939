// Child processes for the real-client scripts (e2e-opencode, smoke-inspector): run a command
// with a time limit, take every child's group down on exit, and find what is left afterwards.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** Every child started through `run` (or added by the caller), until it closes. */
export const children = new Set();

/** Signals the child's whole process group (its own: children run detached), else the child. */
export function killGroup(child, signal) {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

/** SIGTERM to every child's group, then SIGKILL after `graceMs`. */
export async function killChildren(graceMs = 1500) {
  for (const c of children) killGroup(c, "SIGTERM");
  if (children.size) await new Promise((r) => setTimeout(r, graceMs));
  for (const c of children) killGroup(c, "SIGKILL");
}

/** Runs a command to completion with a time limit; never throws. */
export function run(cmd, args, { cwd, env, timeoutMs = 300_000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: process.platform !== "win32" });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${(timeoutMs / 1000).toFixed(1)} s]`;
      killGroup(child, "SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: null, stdout, stderr: `${stderr}${e}`, ms: Date.now() - started });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * Processes (Linux /proc) whose command line names `dir` or whose working directory is in it,
 * other than this one; waits up to 5 s for them to go. Empty where there is no /proc.
 */
export async function leftovers(dir) {
  if (!fs.existsSync("/proc")) return [];
  let found = [];
  for (let i = 0; i < 10; i++) {
    found = [];
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      if (Number(pid) === process.pid) continue;
      let cmd = "";
      let cwd = "";
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
        cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        continue;
      }
      if (cmd.includes(dir) || cwd === dir || cwd.startsWith(dir + path.sep)) found.push({ pid: Number(pid), cmd });
    }
    if (found.length === 0) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
  return found;
}
