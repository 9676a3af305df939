import fs from "node:fs";
import path from "node:path";
import { loadConfig, type Config } from "./config.js";
import { Repo } from "./git.js";
import { resolveInside, resolveWritable } from "./paths.js";

/** A workspace: the git work tree, its config and the paths the server may touch. */
export interface Workspace {
  root: string;
  config: Config;
  repo: Repo;
  /** absolute paths, all checked to lie inside the workspace */
  editablePath: string;
  /** checked again on every use (the agent may swap the file for a symlink or a FIFO) */
  readonly resultsPath: string;
  readonly logPath: string;
  /** server state in this work tree's own git dir: .git/autoresearch/, or .git/worktrees/<name>/autoresearch/ of a linked worktree (never tracked, never in the work tree) */
  stateDir: string;
  runRecordPath: string;
  sessionPath: string;
  resultsMirrorPath: string;
  /** a reset_to_best in progress (so a server killed halfway can finish it) */
  resetIntentPath: string;
}

export async function openWorkspace(dir: string): Promise<Workspace> {
  let root: string;
  try {
    root = fs.realpathSync(dir);
  } catch {
    throw new Error(`workspace ${dir} does not exist`);
  }
  if (!fs.statSync(root).isDirectory()) throw new Error(`workspace ${dir} is not a directory`);
  const config = loadConfig(root);
  const repo = await Repo.open(root);
  const stateDir = path.join(repo.gitdir, "autoresearch");
  return {
    root,
    config,
    repo,
    editablePath: resolveInside(root, config.editable, "editable"),
    get resultsPath() {
      return resolveWritable(root, config.results, "results");
    },
    get logPath() {
      return resolveWritable(root, config.log, "log");
    },
    stateDir,
    runRecordPath: path.join(stateDir, "run.json"),
    sessionPath: path.join(stateDir, "session.json"),
    resultsMirrorPath: path.join(stateDir, "results.mirror.tsv"),
    resetIntentPath: path.join(stateDir, "reset.json"),
  };
}
