// Shared by the real-client scripts: which processes are still about a workspace after a run.
import fs from "node:fs";
import path from "node:path";

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
