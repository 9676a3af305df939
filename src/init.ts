import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { execFileSync } from "node:child_process";
import { writeAtomically } from "./files.js";
import { isInside } from "./paths.js";

/**
 * `autoresearch-mcp init [dir]`: installs the packaged skill where opencode and Claude Code look
 * for skills, and registers the server in `opencode.json` and `.mcp.json` without touching any
 * other entry. Everything is planned (and every JSON file parsed) before anything is written, so
 * an unreadable config leaves the whole directory as it was. A second run changes nothing.
 */

const SKILL_SOURCE = new URL("../skills/autoresearch/SKILL.md", import.meta.url);
const CLI_PATH = fileURLToPath(new URL("./cli.js", import.meta.url));
const SKILL_TARGETS = [".opencode/skills/autoresearch/SKILL.md", ".claude/skills/autoresearch/SKILL.md"];
const SERVER_NAME = "autoresearch";
const OPENCODE_SCHEMA = "https://opencode.ai/config.json";
/**
 * opencode fails a tool call after 60 s without progress unless the entry sets a timeout. It
 * resets the timer on progress (sent every few seconds), so this only matters for a client that
 * stops listening to progress; 15 min covers the default hard limit (2 × 300 s) with room to spare.
 */
const OPENCODE_TIMEOUT_MS = 900_000;

export interface InitOptions {
  /** argv that starts the server; default: this package's own dist/cli.js under `node` */
  command?: string[];
}

export interface InitResult {
  /** what to print, one line each */
  lines: string[];
  /** paths (relative to dir) that were created or rewritten */
  changed: string[];
}

type Json = Record<string, unknown>;

interface Planned {
  rel: string;
  /** the new content, or null when the file stays as it is */
  content: string | null;
  /** what to print once it is done */
  line: string;
}

/** The command that starts this server. */
export function defaultCommand(): string[] {
  // Run from an npx cache (`npx autoresearch-mcp init`), the cache path is not stable: register the
  // npx form instead. From an installed package or a local checkout, the absolute path works offline.
  if (CLI_PATH.split(path.sep).includes("_npx")) return ["npx", "-y", "autoresearch-mcp", "serve"];
  return ["node", CLI_PATH, "serve"];
}

export function init(dir: string, opts: InitOptions = {}): InitResult {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`init: ${root} is not a directory`);
  const command = opts.command ?? defaultCommand();
  if (command.length === 0 || command.some((c) => typeof c !== "string" || c.length === 0)) throw new Error("init: the server command must be a non-empty list of non-empty strings");

  const skill = fs.readFileSync(SKILL_SOURCE, "utf8");
  const plan: Planned[] = [];

  for (const rel of SKILL_TARGETS) {
    const current = readIfExists(root, rel);
    plan.push(current === skill ? { rel, content: null, line: `unchanged: ${rel}` } : { rel, content: skill, line: `${current === null ? "wrote" : "updated"} ${rel}` });
  }

  const opencodeEntry = { type: "local", command, enabled: true, timeout: OPENCODE_TIMEOUT_MS };
  plan.push(planJsonEntry(root, "opencode.json", "mcp", opencodeEntry, { $schema: OPENCODE_SCHEMA }));

  const claudeEntry = { type: "stdio", command: command[0], args: command.slice(1), env: {} };
  plan.push(planJsonEntry(root, ".mcp.json", "mcpServers", claudeEntry, {}));

  // Nothing is written until every file was read and parsed.
  const lines: string[] = [];
  for (const p of plan) {
    if (p.content !== null) writeInside(root, p.rel, p.content);
    lines.push(p.line);
  }
  if (fs.existsSync(path.join(root, "opencode.jsonc")))
    lines.push("note: opencode.jsonc exists too; autoresearch was registered in opencode.json");

  // start_session refuses a dirty work tree: say how to make these files part of the start.
  const pending = uncommitted(root, [".opencode", ".claude", "opencode.json", ".mcp.json"]);
  if (pending.length)
    lines.push(
      "",
      `Not committed yet: ${pending.join(", ")}. start_session needs a clean work tree, so commit them:`,
      `  git add ${pending.join(" ")} && git commit -m "autoresearch: agent setup"`,
      "  (or keep them out of git: list them in .git/info/exclude)",
    );
  lines.push(
    "",
    "Next: start your agent in this directory and ask it to \"run autoresearch\":",
    "  opencode   (check with: opencode mcp list)",
    "  claude     (Claude Code; approve the autoresearch server from .mcp.json when asked)",
  );
  return { lines, changed: plan.filter((p) => p.content !== null).map((p) => p.rel) };
}

/** Which of `paths` git sees as untracked or modified in `root` (none when it is not a repository). */
function uncommitted(root: string, paths: string[]): string[] {
  try {
    const out = execFileSync("git", ["status", "--porcelain", "-z", "--untracked-files=all", "--", ...paths], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const hit = new Set(out.split("\0").filter((r) => r.length > 3).map((r) => r.slice(3).split("/")[0]));
    return paths.filter((p) => hit.has(p));
  } catch {
    return [];
  }
}

/**
 * Plans `<file>[<key>].autoresearch = entry`. Keys the user set on an existing entry (e.g. an
 * environment) are kept; ours win. Other entries and top-level keys are never touched.
 */
function planJsonEntry(root: string, rel: string, key: string, entry: Json, freshTop: Json): Planned {
  const text = readIfExists(root, rel);
  let doc: Json;
  if (text === null) doc = { ...freshTop };
  else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`init: ${path.join(root, rel)} is not valid JSON (${e instanceof Error ? e.message : String(e)}); fix it or move it away, then run init again. Nothing was written.`);
    }
    if (!isObject(parsed)) throw new Error(`init: ${path.join(root, rel)} must hold a JSON object; fix it or move it away, then run init again. Nothing was written.`);
    doc = parsed;
  }
  const section = doc[key];
  if (section !== undefined && !isObject(section))
    throw new Error(`init: "${key}" in ${path.join(root, rel)} must be an object; fix it, then run init again. Nothing was written.`);
  const existing = section?.[SERVER_NAME];
  const merged: Json = isObject(existing) ? { ...existing, ...entry } : entry;
  if (isObject(existing) && isObject(existing.env) && isObject(entry.env)) merged.env = existing.env;
  if (isObject(existing) && isDeepStrictEqual(existing, merged)) return { rel, content: null, line: `unchanged: ${rel} (autoresearch already registered)` };
  const next: Json = { ...doc, [key]: { ...(section ?? {}), [SERVER_NAME]: merged } };
  const line = existing === undefined ? `registered autoresearch in ${rel}${text === null ? " (new file)" : ""}` : `updated the autoresearch entry in ${rel}`;
  return { rel, content: JSON.stringify(next, null, 2) + "\n", line };
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readIfExists(root: string, rel: string): string | null {
  const abs = path.join(root, rel);
  assertInside(root, abs);
  try {
    return fs.readFileSync(abs, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`init: cannot read ${abs}: ${(e as Error).message}`);
  }
}

/** Writes only inside `root`: a symlinked file or directory that leads outside it is refused. */
function writeInside(root: string, rel: string, content: string) {
  const abs = path.join(root, rel);
  assertInside(root, abs);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  assertInside(root, abs);
  writeAtomically(abs, content);
}

/** Follows symlinks of the longest existing prefix of `abs` and checks it stays under `root`. */
function assertInside(root: string, abs: string) {
  const realRoot = fs.realpathSync(root);
  let probe = abs;
  const rest: string[] = [];
  while (!fs.existsSync(probe)) {
    // A dangling symlink "does not exist" but would still be followed on write.
    if (isSymlink(probe)) throw new Error(`init: ${abs} is a symlink that leads nowhere; refusing to write through it`);
    rest.unshift(path.basename(probe));
    const up = path.dirname(probe);
    if (up === probe) break;
    probe = up;
  }
  const real = path.join(fs.realpathSync(probe), ...rest);
  if (!isInside(realRoot, real))
    throw new Error(`init: ${abs} resolves to ${real}, outside ${realRoot}; refusing to write there`);
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
