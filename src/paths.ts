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
  if (path.isAbsolute(rel) || /^[A-Za-z]:[\\/]/.test(rel)) return "is absolute; give a path relative to the workspace";
  const norm = path.posix.normalize(rel.replace(/\\/g, "/"));
  if (norm === ".." || norm.startsWith("../")) return "leaves the workspace (..)";
  if (norm === "." || norm === "") return "names the workspace itself";
  const first = norm.split("/")[0];
  if (first === ".git") return "points into .git";
  return null;
}

/** True when `child` is `root` or lies below it (not a prefix sibling such as `root2`). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
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
    // directory that leaves the workspace is caught as well.
    let dir = path.dirname(abs);
    while (!fs.existsSync(dir) && dir !== path.dirname(dir)) dir = path.dirname(dir);
    const realDir = fs.realpathSync(dir);
    if (!isInside(realRoot, realDir)) refuse("bad_path", `${what} "${printable(rel)}" lies under a symlink that leaves the workspace.`, "Use a plain file inside the workspace.");
    return abs;
  }
  if (!isInside(realRoot, real)) refuse("bad_path", `${what} "${printable(rel)}" is a symlink to a file outside the workspace.`, "Replace the symlink with a plain file inside the workspace.");
  const relReal = path.relative(realRoot, real).split(path.sep)[0];
  if (relReal === ".git") refuse("bad_path", `${what} "${printable(rel)}" resolves into .git.`, "Replace it with a plain file inside the workspace.");
  return abs;
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
