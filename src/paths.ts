import fs from "node:fs";
import path from "node:path";
import { refuse } from "./errors.js";

/**
 * Path safety as pure checks. Security: every file the server reads or writes is resolved here
 * first, so a config value or tool argument can never reach outside the workspace (prefix
 * siblings like `ws2` next to `ws`, `..`, absolute paths, NUL bytes, symlinks that leave the
 * workspace or point into `.git`).
 */

/** A relative path that stays inside the workspace, or a reason why it does not. */
export function checkRelativePath(rel: string): string | null {
  if (typeof rel !== "string" || rel.length === 0) return "is empty";
  if (rel.includes("\0")) return "contains a NUL byte";
  const slashed = rel.replace(/\\/g, "/");
  // `\x` and `\\server\share` are absolute on Windows; `C:x` is relative to drive C's cwd.
  if (path.isAbsolute(rel) || slashed.startsWith("/") || /^[A-Za-z]:/.test(rel)) return "is absolute; give a path relative to the workspace";
  const norm = path.posix.normalize(slashed);
  if (norm === ".." || norm.startsWith("../")) return "leaves the workspace (..)";
  if (norm === "." || norm === "./" || norm === "") return "names the workspace itself";
  // Any .git component (also a nested repository's, and .GIT on case-insensitive filesystems).
  if (norm.split("/").some((c) => c.toLowerCase() === ".git")) return "points into .git";
  return null;
}

/** True when `child` is `root` or lies below it (not a prefix sibling such as `root2`). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  // "..foo" is a file inside root whose name starts with two dots, not a way out.
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + path.sep) && !path.isAbsolute(rel));
}

/**
 * The git dirs a `.git` file names (linked worktree, submodule): `gitdir: <dir>` and that dir's
 * `commondir`, real paths. Read on every check: two small files that `git worktree move` rewrites.
 */
function linkedGitDirs(realRoot: string): string[] {
  const dotGit = path.join(realRoot, ".git");
  if (!lstatOrNull(dotGit)?.isFile()) return [];
  const dirs: string[] = [];
  try {
    const m = /^gitdir: *(.+?)\s*$/m.exec(readSmallFile(dotGit));
    if (!m) return [];
    const gitdir = fs.realpathSync(path.resolve(realRoot, m[1]));
    dirs.push(gitdir);
    dirs.push(fs.realpathSync(path.resolve(gitdir, readSmallFile(path.join(gitdir, "commondir")).trim())));
  } catch {
    // a missing commondir (submodule) or a broken link: nothing (more) to protect
  }
  return dirs;
}

/** The first 4 KiB of a plain file (never blocks on a FIFO). */
function readSmallFile(file: string): string {
  const fd = openPlainFile(file, fs.constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** True when `real` (inside `realRoot`) lies in the workspace's .git, or in a git dir its .git file names. */
function inGitDir(realRoot: string, real: string): boolean {
  if (path.relative(realRoot, real).split(path.sep)[0].toLowerCase() === ".git") return true;
  return linkedGitDirs(realRoot).some((d) => isInside(d, real));
}

/** lstat that answers null for a missing path. */
function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

/**
 * Resolves `rel` inside `root` and, when it exists, follows symlinks to make sure the real file is
 * inside the real workspace and not inside `.git`. Returns the absolute (unresolved) path.
 */
export function resolveInside(root: string, rel: string, what: string): string {
  const problem = checkRelativePath(rel);
  if (problem) refuse("bad_path", `${what} "${printable(rel)}" ${problem}.`, "Use a file name inside the workspace, such as train.py.");
  const abs = path.resolve(root, rel);
  if (!isInside(root, abs)) refuse("bad_path", `${what} "${printable(rel)}" leaves the workspace.`, "Use a file name inside the workspace.");
  const realRoot = fs.realpathSync(root);
  let real: string | null = null;
  try {
    real = fs.realpathSync(abs);
  } catch {
    // Missing file: check its nearest existing parent instead, so a new file under a symlinked
    // directory that leaves the workspace is caught as well. "Existing" is decided by lstat: a
    // dangling symlink exists, and writing through it would create its target wherever it points.
    let p = abs;
    while (!lstatOrNull(p) && p !== path.dirname(p)) p = path.dirname(p);
    if (lstatOrNull(p)?.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.realpathSync(p);
      } catch {
        refuse("bad_path", `${what} "${printable(rel)}" is or lies under a dangling symlink (${printable(fs.readlinkSync(p))}).`, "Replace the symlink with a plain file inside the workspace.");
      }
      if (!isInside(realRoot, target)) refuse("bad_path", `${what} "${printable(rel)}" lies under a symlink that leaves the workspace.`, "Use a plain file inside the workspace.");
      if (inGitDir(realRoot, target)) refuse("bad_path", `${what} "${printable(rel)}" lies under a symlink into .git.`, "Use a plain file inside the workspace.");
      return abs;
    }
    const realDir = fs.realpathSync(p);
    if (!isInside(realRoot, realDir)) refuse("bad_path", `${what} "${printable(rel)}" lies under a symlink that leaves the workspace.`, "Use a plain file inside the workspace.");
    if (inGitDir(realRoot, realDir)) refuse("bad_path", `${what} "${printable(rel)}" lies in .git (through a symlink, or a git dir inside the workspace).`, "Use a plain file inside the workspace.");
    return abs;
  }
  if (!isInside(realRoot, real)) refuse("bad_path", `${what} "${printable(rel)}" is a symlink to a file outside the workspace.`, "Replace the symlink with a plain file inside the workspace.");
  if (inGitDir(realRoot, real)) refuse("bad_path", `${what} "${printable(rel)}" resolves into .git.`, "Replace it with a plain file inside the workspace.");
  return abs;
}

/**
 * A file the server writes (results.tsv, run.log): inside the workspace, and either missing or a
 * plain regular file. Not a symlink (writing through one would change the file it points to,
 * even train.py), not a FIFO (opening it would block the server), not a directory. Resolved
 * before every write, because the agent can replace it at any time.
 */
export function resolveWritable(root: string, rel: string, what: string): string {
  const abs = resolveInside(root, rel, what);
  const st = lstatOrNull(abs);
  if (st?.isSymbolicLink()) refuse("bad_path", `${what} "${printable(rel)}" is a symlink; the server writes it and will not write through a link.`, `Replace it with a plain file (rm ${printable(rel)}; the server recreates it).`);
  if (st && !st.isFile()) refuse("not_a_file", `${what} "${printable(rel)}" is not a regular file (${kindOf(st)}).`, `Remove it; the server recreates ${printable(rel)} as a plain file.`);
  return abs;
}

/**
 * Opens `file`, which must be a plain file, without ever blocking: a FIFO or device in its place
 * would hang open(2) until a writer appears. Add O_NOFOLLOW to `flags` to refuse a symlink too.
 * Throws "<name> is not a regular file" for anything else (and the open error as it is).
 */
export function openPlainFile(file: string, flags: number, mode = 0o644, name = file): number {
  const fd = fs.openSync(file, flags | fs.constants.O_NONBLOCK, mode);
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new Error(`${name} is not a regular file`);
  }
  return fd;
}

/** Like resolveInside, and the target must be an existing regular file. */
export function resolveRegularFile(root: string, rel: string, what: string): string {
  const abs = resolveInside(root, rel, what);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    refuse("missing_file", `${what} "${printable(rel)}" does not exist in the workspace.`, "Check the file name (autoresearch.json fields editable/readonly/log).");
  }
  if (!st.isFile()) refuse("not_a_file", `${what} "${printable(rel)}" is not a regular file (${kindOf(st)}).`, "Replace it with a regular file.");
  return abs;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a file";
}

/** Makes a user-supplied string safe to quote in a message (no control characters, bounded). */
export function printable(s: string, max = 80): string {
  const clean = String(s).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return clean.length > max ? clean.slice(0, max) + "…" : clean;
}
