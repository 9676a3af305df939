import readline from "node:readline";
import { killTree, pidAlive } from "../process-tree.js";

/**
 * `node watchdog.js <serverPid>`: one per server, started detached at its first run. The server
 * tells it over a pipe which run trees are live (`watch <runId> <pgid> <graceSeconds>`, then
 * `release <runId>`). If the server dies (SIGKILL, a crash, OOM), the pipe closes at once and
 * the watchdog kills every tree still watched, so a training run never outlives its server;
 * then it exits. A pid check every second covers a pipe that stays open by accident.
 */
const serverPid = Number(process.argv[2]);
const watched = new Map<string, { pgid: number; graceMs: number }>();
let finishing = false;

function killAllAndExit(): void {
  if (finishing) return;
  finishing = true;
  const kills = [...watched].map(([runId, w]) => killTree(w.pgid, runId, w.graceMs));
  void Promise.allSettled(kills).finally(() => process.exit(0));
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, runId, pgid, grace] = line.trim().split(" ");
  if (cmd === "watch" && runId && Number(pgid) > 0) watched.set(runId, { pgid: Number(pgid), graceMs: Number(grace) * 1000 });
  else if (cmd === "release" && runId) watched.delete(runId);
});
process.stdin.on("end", killAllAndExit);
process.stdin.on("error", killAllAndExit);
setInterval(() => {
  if (!pidAlive(serverPid)) killAllAndExit();
}, 1000);
