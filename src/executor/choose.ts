import path from "node:path";
import type { Workspace } from "../workspace.js";
import type { Executor, RunRecordFile } from "./executor.js";
import { LocalExecutor } from "./local.js";
import { SlurmExecutor } from "./slurm.js";

/** The executor autoresearch.json names: this machine (default) or Slurm jobs. */
export function executorFor(ws: Workspace, records: RunRecordFile): Executor {
  const ex = ws.config.executor;
  if (ex?.type === "slurm") return new SlurmExecutor(records, { sbatch: ex.sbatch, pollSeconds: ex.pollSeconds, scriptDir: path.join(ws.stateDir, "slurm") });
  return new LocalExecutor(records, ws.config.graceSeconds);
}
