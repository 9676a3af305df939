import type { AnyTool } from "./define-tool.js";
import { startSessionTool } from "./start-session.js";
import { readTrainTool } from "./read-train.js";
import { applyPatchTool } from "./apply-patch.js";
import { commitTool } from "./commit.js";
import { runTrainingTool } from "./run-training.js";
import { parseMetricsTool } from "./parse-metrics.js";
import { logResultTool } from "./log-result.js";
import { resetToBestTool } from "./reset-to-best.js";
import { statusTool } from "./status.js";

/** Every tool, in the order of the loop. */
export const TOOLS: AnyTool[] = [
  startSessionTool,
  statusTool,
  readTrainTool,
  applyPatchTool,
  commitTool,
  runTrainingTool,
  parseMetricsTool,
  logResultTool,
  resetToBestTool,
];
