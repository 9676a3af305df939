import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { execFileSync } from "node:child_process";
import { CONFIG_FILE, loadConfig } from "./config.js";
import { writeAtomically } from "./files.js";
import { isInside } from "./paths.js";

/**
 * `autoresearch-mcp init [dir]`: installs the packaged skill where opencode, Claude Code and Codex
 * look for skills, and registers the server in `opencode.json`, `.mcp.json` and
 * `.codex/config.toml` without touching any other entry. Everything is planned (and every config
 * parsed) before anything is written, so an unreadable config leaves the whole directory as it
 * was. A second run changes nothing. It never writes outside `dir` (so never ~/.codex).
 */

const SKILL_SOURCE = new URL("../skills/autoresearch/SKILL.md", import.meta.url);
const CLI_PATH = fileURLToPath(new URL("./cli.js", import.meta.url));
/** opencode reads the first two, Claude Code the second, Codex the third (and not the others). */
const SKILL_TARGETS = [".opencode/skills/autoresearch/SKILL.md", ".claude/skills/autoresearch/SKILL.md", ".agents/skills/autoresearch/SKILL.md"];
/** The top-level entries init may create; start_session git-excludes them (untracked, they need no commit). */
const CLIENT_PATHS = [".opencode", ".claude", ".agents", ".codex", "opencode.json", ".mcp.json"];
const SERVER_NAME = "autoresearch";
const OPENCODE_SCHEMA = "https://opencode.ai/config.json";
/**
 * opencode fails a tool call after 60 s without progress unless the entry sets a timeout. It
 * resets the timer on progress (sent every few seconds), so this only matters for a client that
 * stops listening to progress; 15 min covers the default hard limit (2 × 300 s) with room to spare.
 */
const OPENCODE_TIMEOUT_MS = 900_000;
/**
 * Codex reads a project's `.codex/config.toml` (trusted projects only). `required`: without it
 * Codex gives a server about 1 s before the first turn goes without its tools. Its per-call limit
 * (`tool_timeout_sec`, default 300 s) is not extended by progress: run_training answers before
 * it (the agent calls again with the run id); the longer limit is for one-off slow calls such as
 * start_session's configured checks.
 */
const CODEX_CONFIG = ".codex/config.toml";
const CODEX_STARTUP_TIMEOUT_S = 30;
const CODEX_TOOL_TIMEOUT_S = 900;
const CODEX_ENV_NOTE = [
  "# Codex passes the server only HOME, PATH, LANG, SHELL, TERM and the CA-bundle variables: add what",
  '# training needs, e.g. env = { CUDA_VISIBLE_DEVICES = "0" }, or env_vars = ["HF_HOME"] to pass it on.',
];

export interface InitOptions {
  /** argv that starts the server; default: this package's own dist/cli.js under `node` */
  command?: string[];
  /** set up a folder that has no editable file (train.py) */
  force?: boolean;
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
  /** printed after the line */
  more?: string[];
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
  if (!opts.force) requireEditable(root);

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

  // Codex may start the server in a subfolder of the project: name the workspace.
  plan.push(planCodexEntry(root, [...command, "--workspace", root]));

  // Nothing is written until every file was read and parsed.
  const lines: string[] = [];
  for (const p of plan) {
    if (p.content !== null) writeInside(root, p.rel, p.content);
    lines.push(p.line, ...(p.more ?? []));
  }
  if (fs.existsSync(path.join(root, "opencode.jsonc")))
    lines.push("note: opencode.jsonc exists too; autoresearch was registered in opencode.json");

  lines.push(
    "",
    `Codex reads ${CODEX_CONFIG} only in a trusted project: trust this folder when codex asks on its first start here,`,
    "or add to ~/.codex/config.toml (init writes nothing outside this folder):",
    `  [projects.${tomlString(root)}]`,
    '  trust_level = "trusted"',
    `(or copy the [mcp_servers.${SERVER_NAME}] table of ${CODEX_CONFIG} into ~/.codex/config.toml instead).`,
  );

  // start_session needs a clean work tree. It git-excludes these client files, so new ones need
  // no commit; a tracked file that init changed does.
  const git = gitState(root, CLIENT_PATHS);
  if (git?.changed.length)
    lines.push(
      "",
      `Tracked by git and changed by init: ${git.changed.join(", ")}. start_session needs a clean work tree, so commit the change:`,
      `  git commit -m "autoresearch: agent setup" -- ${git.changed.join(" ")}`,
    );
  if (git?.untracked.length)
    lines.push("", `Not in git: ${git.untracked.join(", ")}. No need to commit them: start_session lists them in .git/info/exclude, so they do not count as changes.`);
  lines.push(
    "",
    'Next: start your agent in this directory and ask it to "run autoresearch":',
    "  opencode   (check with: opencode mcp list)",
    "  claude     (Claude Code reads .mcp.json; /mcp shows the server)",
    "  codex      (Codex CLI; /mcp shows the server once the folder is trusted)",
  );
  return { lines, changed: plan.filter((p) => p.content !== null).map((p) => p.rel) };
}

/** init sets up a workspace: the folder with the editable file (train.py unless autoresearch.json says otherwise). */
function requireEditable(root: string) {
  let editable = "train.py";
  let which = "the default";
  if (fs.existsSync(path.join(root, CONFIG_FILE))) {
    try {
      editable = loadConfig(root).editable;
      which = `"editable" in ${CONFIG_FILE}`;
    } catch (e) {
      throw new Error(`init: ${e instanceof Error ? e.message : String(e)}. Fix ${path.join(root, CONFIG_FILE)} first (or add --force). Nothing was written.`);
    }
  }
  if (!fs.existsSync(path.join(root, editable)))
    throw new Error(
      `init: ${root} has no ${editable}, the file the agent edits (${which}), so it is not an autoresearch workspace. Run init in the folder with ${editable} (autoresearch-mcp init <that folder>), or add --force to set up this folder anyway. Nothing was written.`,
    );
}

/** Which of `paths` git sees as untracked, and which as tracked and changed, in `root` (null when it is not a repository). */
function gitState(root: string, paths: string[]): { untracked: string[]; changed: string[] } | null {
  let out: string;
  try {
    out = execFileSync("git", ["status", "--porcelain", "-z", "--untracked-files=all", "--", ...paths], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null;
  }
  const untracked = new Set<string>();
  const changed = new Set<string>();
  for (const r of out.split("\0").filter((x) => x.length > 3)) (r.startsWith("??") ? untracked : changed).add(r.slice(3).split("/")[0]);
  return { untracked: paths.filter((p) => untracked.has(p) && !changed.has(p)), changed: paths.filter((p) => changed.has(p)) };
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

/** The Codex entry, as init writes it; a TOML basic string is a JSON string (same escapes). */
function codexBlock(argv: string[]): string {
  const [cmd, ...args] = argv;
  return [
    `[mcp_servers.${SERVER_NAME}]`,
    `command = ${tomlString(cmd)}`,
    `args = [${args.map(tomlString).join(", ")}]`,
    "required = true",
    `startup_timeout_sec = ${CODEX_STARTUP_TIMEOUT_S}`,
    `tool_timeout_sec = ${CODEX_TOOL_TIMEOUT_S}`,
    ...CODEX_ENV_NOTE,
  ].join("\n") + "\n";
}

const tomlString = (s: string) => JSON.stringify(s);
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A block init wrote earlier (any command and timeouts), which it may replace. */
const OUR_BLOCK = new RegExp(
  [`^\\[mcp_servers\\.${SERVER_NAME}\\]`, "command = .*", "args = \\[.*\\]", "required = true", "startup_timeout_sec = \\d+", "tool_timeout_sec = \\d+", ...CODEX_ENV_NOTE.map(escapeRe)].join("\\r?\\n") + "\\r?\\n",
  "m",
);

/**
 * Plans the `[mcp_servers.autoresearch]` table of `.codex/config.toml`. No TOML parser: a new file
 * is written whole; in an existing one the table is appended, or a block init wrote earlier is
 * replaced. An entry in any other form (the user's own) is left alone and the block printed.
 */
function planCodexEntry(root: string, argv: string[]): Planned {
  const rel = CODEX_CONFIG;
  const block = codexBlock(argv);
  const text = readIfExists(root, rel);
  if (text === null) return { rel, content: `# Written by autoresearch-mcp init; Codex reads it in a trusted project only.\n\n${block}`, line: `registered autoresearch in ${rel} (new file)` };
  if (text.includes(block)) return { rel, content: null, line: `unchanged: ${rel} (autoresearch already registered)` };
  if (OUR_BLOCK.test(text)) return { rel, content: text.replace(OUR_BLOCK, () => block), line: `updated the autoresearch entry in ${rel}` };
  const byHand = (why: string): Planned => ({ rel, content: null, line: `left ${rel} as it is: ${why}. Put this table in it by hand:`, more: block.trimEnd().split("\n").map((l) => `  ${l}`) });
  if (new RegExp(`^\\s*\\[\\s*mcp_servers\\s*\\.\\s*["']?${SERVER_NAME}["']?\\s*[\\].]|mcp_servers\\s*\\.\\s*["']?${SERVER_NAME}\\b|^\\s*["']?${SERVER_NAME}["']?\\s*[.=]`, "m").test(text))
    return byHand(`it has an ${SERVER_NAME} entry of its own`);
  if (/^\s*mcp_servers\s*=/m.test(text)) return byHand("it defines mcp_servers as an inline table");
  const sep = text.length === 0 || text.endsWith("\n\n") ? "" : text.endsWith("\n") ? "\n" : "\n\n";
  return { rel, content: text + sep + block, line: `registered autoresearch in ${rel}` };
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
