import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RUN_LIMIT_S } from "./timeouts.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
const made: string[] = [];

export function git(dir: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd: dir, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } });
}

export interface WorkspaceOptions {
  /**
   * autoresearch.json content; defaults to running the fixture with python3 (a hard limit only a
   * hang reaches) under the strict keep rule: these tests are about the other rules, one run per
   * row: a config without a "noise" key gets "noise": false. The noise-aware rule (the product's
   * default) has its own tests (test/session/noise.test.ts), which set "noise" themselves.
   */
  config?: Record<string, unknown> | null;
  /** extra files to write and commit (relative path → content) */
  files?: Record<string, string>;
  /** the train.py to use instead of the fixture */
  train?: string;
}

/** A fresh git repository in a temp dir with the fixture train.py/prepare.py committed on master. */
export function makeWorkspace(opts: WorkspaceOptions = {}): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "arws-")));
  made.push(dir);
  fs.writeFileSync(path.join(dir, "train.py"), opts.train ?? fs.readFileSync(path.join(FIXTURES, "train.py"), "utf8"));
  fs.copyFileSync(path.join(FIXTURES, "prepare.py"), path.join(dir, "prepare.py"));
  fs.writeFileSync(path.join(dir, "pyproject.toml"), '[project]\nname = "fixture"\nversion = "0.1.0"\ndependencies = ["numpy>=1.26"]\n');
  fs.writeFileSync(path.join(dir, ".gitignore"), "__pycache__/\n");
  const given = opts.config === undefined ? { run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: RUN_LIMIT_S, graceSeconds: 1 } : opts.config;
  const config = given && !("noise" in given) ? { ...given, noise: false } : given;
  if (config) fs.writeFileSync(path.join(dir, "autoresearch.json"), JSON.stringify(config, null, 2));
  for (const [rel, content] of Object.entries(opts.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  git(dir, "init", "-q", "-b", "master");
  git(dir, "config", "user.name", "Test");
  git(dir, "config", "user.email", "test@example.com");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "initial");
  return dir;
}

/** A linked worktree of `repo` (git worktree add -b <branch>) in a new temp dir, removed with the workspaces. */
export function addWorktree(repo: string, branch = "wt", parent = os.tmpdir()): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(parent, "arwt-")));
  made.push(dir);
  git(repo, "worktree", "add", "-q", "-b", branch, dir);
  return dir;
}

export function removeWorkspaces(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, rel), "utf8");
export const write = (dir: string, rel: string, content: string) => fs.writeFileSync(path.join(dir, rel), content);
export const porcelain = (dir: string) => git(dir, "status", "--porcelain");
export const headShort = (dir: string) => git(dir, "rev-parse", "--short=7", "HEAD").trim();
export const logSubjects = (dir: string) => git(dir, "log", "--format=%s").trim().split("\n");
