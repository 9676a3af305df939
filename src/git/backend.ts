import { execa } from "execa";

/** What Repo needs from a git implementation: isomorphic-git for a plain clone, the git CLI otherwise. */

export interface Author {
  name: string;
  email: string;
}

export interface CommitInfo {
  oid: string;
  parents: string[];
  message: string;
  timestamp: number;
}

export type LogEntry = Pick<CommitInfo, "oid" | "message" | "parents">;

export interface Backend {
  headOid(): Promise<string | null>;
  currentBranch(): Promise<string | null>;
  branchOid(branch: string): Promise<string | null>;
  createAndCheckoutBranch(branch: string): Promise<void>;
  checkoutBranch(branch: string): Promise<void>;
  /** `short` is already lower-case hex of 4 to 40 digits */
  expand(short: string): Promise<string | null>;
  commitExists(oid: string): Promise<boolean>;
  readCommit(oid: string): Promise<CommitInfo>;
  readFileAt(oid: string, filepath: string): Promise<Buffer | null>;
  isAncestor(ancestor: string, oid: string): Promise<boolean>;
  /** up to `max` commits from `oid` back, newest first */
  log(oid: string, max: number): Promise<LogEntry[]>;
  configValue(key: string): Promise<string | undefined>;
  commitFile(filepath: string, message: string, author: Author, afterAdd?: () => void): Promise<string>;
  resetHard(branch: string, oid: string, afterRef?: () => void): Promise<void>;
  /** `ref` is a full ref name (refs/...) */
  writeRef(ref: string, oid: string): Promise<void>;
}

const ENV = { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
}

export interface GitResult<T> {
  /** -1 when git could not be started */
  exitCode: number;
  stdout: T;
  stderr: string;
}

/** Runs the git CLI in `dir` (argv only, no shell) and returns its exit code and output. */
export async function runGit(dir: string, args: string[], opts: RunOptions = {}): Promise<GitResult<string>> {
  const r = await execa("git", args, { cwd: dir, input: opts.input, stripFinalNewline: false, reject: false, env: { ...ENV, ...opts.env } });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ""), stderr: r.exitCode === undefined ? String(r.message ?? "") : String(r.stderr ?? "") };
}

/** Like runGit, stdout as bytes (file contents must come back exactly). */
export async function runGitBytes(dir: string, args: string[], opts: RunOptions = {}): Promise<GitResult<Buffer>> {
  const r = await execa("git", args, { cwd: dir, input: opts.input, encoding: "buffer", stripFinalNewline: false, reject: false, env: { ...ENV, ...opts.env } });
  return { exitCode: r.exitCode ?? -1, stdout: Buffer.from(r.stdout ?? []), stderr: r.exitCode === undefined ? String(r.message ?? "") : Buffer.from(r.stderr ?? []).toString() };
}

/** runGit that throws on a non-zero exit; output is bounded by what git prints for small queries. */
export async function gitOut(dir: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runGit(dir, args, opts);
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return r.stdout;
}

/** What isomorphic-git stores and returns as a message: no CR, no leading blank lines, one final newline. */
export function normalizeMessage(s: string): string {
  return s.replace(/\r/g, "").replace(/^\n+/, "").replace(/\n+$/, "") + "\n";
}
