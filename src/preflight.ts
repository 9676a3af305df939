import fs from "node:fs";
import path from "node:path";

/**
 * What `serve` checks at start, after it answers `initialize`: the things that make every tool
 * call refuse (no such folder, not the root of a git work tree, a broken autoresearch.json, no
 * editable file), each with its fix. Clients such as opencode throw stderr away, so the tools
 * still refuse with the reason; this is for a human who starts the server by hand or reads the
 * client's MCP log. Cheap on purpose: a few file checks, no process.
 */
export async function workspaceProblems(dir: string): Promise<string[]> {
  let root: string;
  try {
    root = fs.realpathSync(dir);
  } catch {
    return [`workspace ${dir} does not exist. Fix: pass --workspace <the folder with train.py> (or start the client there).`];
  }
  if (!fs.statSync(root).isDirectory()) return [`workspace ${dir} is not a directory. Fix: pass --workspace <the folder with train.py>.`];
  const problems: string[] = [];
  if (!fs.existsSync(path.join(root, ".git"))) {
    const top = enclosingRepo(root);
    problems.push(
      top
        ? `workspace ${root} is inside the git repository ${top}, not at its root. Fix: pass --workspace ${top} (or start the client there).`
        : `workspace ${root} is not a git repository. Fix: cd ${root} && git init && git add -A && git commit -m baseline`,
    );
  }
  let editable = "train.py";
  try {
    const { loadConfig } = await import("./config.js");
    editable = loadConfig(root).editable;
  } catch (e) {
    problems.push(`${e instanceof Error ? e.message : String(e)}. Fix: correct autoresearch.json in ${root} (every field is optional; see the README).`);
  }
  if (!fs.existsSync(path.join(root, editable)))
    problems.push(`${editable}, the file the agent edits, is missing in ${root}. Fix: pass --workspace <the folder with ${editable}>, or set "editable" in autoresearch.json.`);
  return problems;
}

/** The nearest folder above `dir` with a `.git` (directory, or file of a linked worktree). */
function enclosingRepo(dir: string): string | null {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, ".git"))) return d;
    if (path.dirname(d) === d) return null;
  }
}
