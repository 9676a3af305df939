import { killTree, pidAlive } from "./process-tree.js";

/**
 * `node watchdog.js <serverPid> <pgid> <runId> <graceSeconds>`, started detached next to every
 * run. It exits when the run's group is gone; if the server dies first (SIGKILL, a crash, OOM)
 * it kills the whole run tree, so a training run never outlives its server by more than ~1 s.
 */
const [server, pgid, runId, grace] = process.argv.slice(2);
const serverPid = Number(server);
const group = Number(pgid);

function groupAlive(): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const timer = setInterval(() => {
  if (!groupAlive()) process.exit(0);
  if (pidAlive(serverPid)) return;
  clearInterval(timer);
  void killTree(group, runId, Number(grace) * 1000).finally(() => process.exit(0));
}, 500);
