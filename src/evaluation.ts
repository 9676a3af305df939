import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Workspace } from "./workspace.js";

/**
 * The metric comes from the read-only evaluation (SPEC §10). When a read-only module defines the
 * metric function (karpathy's layout: prepare.evaluate_bpb), every run gets a hook on PYTHONPATH
 * (pyhook/sitecustomize.py, in this package, not in the workspace) that wraps the function when
 * the module is imported and writes each value it returns to a report under the server's state
 * dir. The run's outcome then holds the printed metric to the last value returned.
 */

export interface Evaluation {
  module: string;
  function: string;
}

const HOOK_DIR = fileURLToPath(new URL("../pyhook/", import.meta.url)).replace(/\/$/, "");

/** The default: karpathy's prepare.evaluate_bpb, where the read-only prepare.py defines it. */
const DEFAULT: Evaluation = { module: "prepare", function: "evaluate_bpb" };

/** The function whose returns are the metric, or null (turned off, or no read-only module defines it). */
export function evaluationOf(ws: Workspace): Evaluation | null {
  const configured = ws.config.evaluation;
  if (configured === false) return null;
  const want = configured ?? DEFAULT;
  const file = `${want.module.replace(/\./g, "/")}.py`;
  if (!ws.config.readonly.includes(file)) return null; // only a read-only module is trusted
  let text: string;
  try {
    text = fs.readFileSync(path.join(ws.root, file), "utf8");
  } catch {
    return null;
  }
  return new RegExp(`^def ${want.function}\\s*\\(`, "m").test(text) ? want : null;
}

export function reportPath(ws: Workspace, runId: string): string {
  if (!/^run-\d{14}-[0-9a-f]{6}$/.test(runId)) throw new Error(`not a run id: ${JSON.stringify(runId)}`);
  return path.join(ws.stateDir, "eval", `${runId}.jsonl`);
}

/** The environment that installs the hook for run `runId` (its report starts empty). */
export function hookEnv(ws: Workspace, runId: string, e: Evaluation, env: Record<string, string>): Record<string, string> {
  const report = reportPath(ws, runId);
  fs.mkdirSync(path.dirname(report), { recursive: true });
  fs.writeFileSync(report, "");
  return {
    PYTHONPATH: env.PYTHONPATH ? `${HOOK_DIR}${path.delimiter}${env.PYTHONPATH}` : HOOK_DIR,
    AUTORESEARCH_EVAL_HOOK: JSON.stringify({ module: e.module, function: e.function, report }),
  };
}

/** The values the function returned in run `runId`, in order (null: not a number); [] when it was never called. */
export function returnedValues(ws: Workspace, runId: string): (number | null)[] {
  let text = "";
  try {
    text = fs.readFileSync(reportPath(ws, runId), "utf8");
  } catch {
    return [];
  }
  const out: (number | null)[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const v = (JSON.parse(line) as { value?: unknown }).value;
      out.push(typeof v === "number" && Number.isFinite(v) ? v : null);
    } catch {
      out.push(null);
    }
  }
  return out;
}
