import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { TOOLS } from "../src/tools/index.js";
import { init } from "../src/init.js";
import { CALL_MS, WAIT_MS } from "./helpers/timeouts.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = path.join(ROOT, "dist/cli.js");
const SKILL = path.join(ROOT, "skills/autoresearch/SKILL.md");
const SKILL_TARGETS = [".opencode/skills/autoresearch/SKILL.md", ".claude/skills/autoresearch/SKILL.md", ".agents/skills/autoresearch/SKILL.md"];

const made: string[] = [];
function tmpDir(prefix = "arinit-"): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  made.push(d);
  return d;
}
/** A folder init accepts: it has train.py, the editable file. */
function wsDir(): string {
  const d = tmpDir();
  fs.writeFileSync(path.join(d, "train.py"), "print('val_bpb: 1.0')\n");
  return d;
}
afterEach(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it in pretest)`);
});

/** `autoresearch-mcp init <dir>` through the built CLI, as a user runs it. */
function runInit(dir: string) {
  const r = spawnSync(process.execPath, [CLI, "init", dir], { encoding: "utf8", timeout: WAIT_MS });
  if (r.error) throw new Error(`autoresearch-mcp init did not finish within ${WAIT_MS / 1000} s: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** Every file under dir (relative path → bytes). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      if (e.isDirectory()) walk(abs);
      else out[path.relative(dir, abs)] = fs.readFileSync(abs).toString("base64");
    }
  };
  walk(dir);
  return out;
}

describe("autoresearch-mcp init", () => {
  it("creates the three skills and the three registrations in a fresh workspace", () => {
    const dir = wsDir();
    const r = runInit(dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const skill = fs.readFileSync(SKILL, "utf8");
    for (const rel of SKILL_TARGETS) {
      expect(fs.readFileSync(path.join(dir, rel), "utf8")).toBe(skill);
      expect(r.stdout).toContain(`wrote ${rel}`);
    }
    expect(r.stdout).toContain("registered autoresearch in opencode.json");
    expect(r.stdout).toContain("registered autoresearch in .mcp.json");
    expect(r.stdout).toContain("registered autoresearch in .codex/config.toml (new file)");
    expect(r.stdout).toMatch(/opencode/);
    expect(r.stdout).toMatch(/claude/);
    expect(r.stdout).toMatch(/codex/);
    expect(r.stdout).toContain("run autoresearch");
    // not a git repository: nothing about committing
    expect(r.stdout).not.toMatch(/commit|\.git\/info\/exclude/);

    const oc = readJson(path.join(dir, "opencode.json"));
    expect(oc.$schema).toBe("https://opencode.ai/config.json");
    expect(Object.keys(oc.mcp)).toEqual(["autoresearch"]);
    const e = oc.mcp.autoresearch;
    expect(e).toEqual({ type: "local", command: ["node", CLI, "serve"], enabled: true, timeout: expect.any(Number) });
    // a whole run up to the default hard limit (2 × 300 s) fits in the client's timeout
    expect(e.timeout).toBeGreaterThanOrEqual(600_000);

    const cc = readJson(path.join(dir, ".mcp.json"));
    expect(cc).toEqual({ mcpServers: { autoresearch: { type: "stdio", command: "node", args: [CLI, "serve"], env: {} } } });

    for (const f of ["opencode.json", ".mcp.json"]) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      expect(text).toBe(JSON.stringify(JSON.parse(text), null, 2) + "\n");
    }
    const toml = fs.readFileSync(path.join(dir, ".codex/config.toml"), "utf8");
    expect(toml).toContain(`[mcp_servers.autoresearch]\ncommand = "node"\nargs = [${JSON.stringify(CLI)}, "serve", "--workspace", ${JSON.stringify(dir)}]\nrequired = true\n`);
    expect(toml).toMatch(/^tool_timeout_sec = \d+$/m);
    expect(toml).toMatch(/^startup_timeout_sec = \d+$/m);
    expect(Object.keys(snapshot(dir)).sort()).toEqual([".agents/skills/autoresearch/SKILL.md", ".claude/skills/autoresearch/SKILL.md", ".codex/config.toml", ".mcp.json", ".opencode/skills/autoresearch/SKILL.md", "opencode.json", "train.py"]);
  });

  it("registers a command that really starts the server", async () => {
    const dir = wsDir();
    expect(runInit(dir).code).toBe(0);
    const entry = readJson(path.join(dir, ".mcp.json")).mcpServers.autoresearch;
    // "node" on PATH may differ from the test's node: use the same binary, the registered args.
    const transport = new StdioClientTransport({ command: entry.command === "node" ? process.execPath : entry.command, args: entry.args, cwd: dir, stderr: "pipe" });
    const client = new Client({ name: "init-test", version: "0.0.0" });
    await client.connect(transport, { timeout: CALL_MS });
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(TOOLS.map((t) => t.name).sort());
    } finally {
      await client.close();
    }
  });

  it("in a git workspace: new files need no commit (start_session excludes them); start_session starts", async () => {
    const dir = tmpDir();
    fs.cpSync(path.join(ROOT, "examples/tiny-lm"), dir, { recursive: true });
    const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
    const git = (...args: string[]) => spawnSync("git", args, { cwd: dir, env, encoding: "utf8" });
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "init");
    const r = runInit(dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Not in git: .opencode, .claude, .agents, .codex, opencode.json, .mcp.json. No need to commit them: start_session lists them in .git/info/exclude");
    expect(r.stdout).not.toMatch(/git (add|commit)/);

    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, "serve"], cwd: dir, stderr: "pipe" });
    const client = new Client({ name: "init-test", version: "0.0.0" });
    await client.connect(transport, { timeout: CALL_MS });
    try {
      const res = await client.callTool({ name: "start_session", arguments: { tag: "t1" } }, undefined, { timeout: CALL_MS });
      expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
    } finally {
      await client.close();
    }
    expect(git("status", "--porcelain").stdout).toBe("");
  });

  it("in a git workspace: a tracked config that init changed is named, with the commit that makes the tree clean", () => {
    const dir = wsDir();
    fs.writeFileSync(path.join(dir, ".mcp.json"), JSON.stringify({ mcpServers: {} }));
    const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
    const git = (...args: string[]) => spawnSync("git", args, { cwd: dir, env, encoding: "utf8" });
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "init");
    const r = runInit(dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Tracked by git and changed by init: .mcp.json. start_session needs a clean work tree, so commit the change:");
    const cmd = r.stdout.split("\n").find((l) => l.trim().startsWith("git commit "))!.trim();
    expect(cmd).toBe('git commit -m "autoresearch: agent setup" -- .mcp.json');
    expect(r.stdout).toContain("Not in git: .opencode, .claude, .agents, .codex, opencode.json.");
    expect(spawnSync("sh", ["-c", cmd], { cwd: dir, env }).status).toBe(0);
    expect(git("status", "--porcelain").stdout).not.toContain(".mcp.json");
    expect(runInit(dir).stdout).not.toContain("Tracked by git");
  });

  it("keeps other servers and keys in existing configs", () => {
    const dir = wsDir();
    const oc = {
      $schema: "https://opencode.ai/config.json",
      model: "anthropic/claude-sonnet-4",
      theme: "dark",
      mcp: { github: { type: "remote", url: "https://example.invalid/mcp", enabled: false } },
      agent: { build: { temperature: 0.1 } },
    };
    const cc = { mcpServers: { filesystem: { type: "stdio", command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "."], env: { A: "1" } } }, other: [1, 2, 3] };
    fs.writeFileSync(path.join(dir, "opencode.json"), JSON.stringify(oc));
    fs.writeFileSync(path.join(dir, ".mcp.json"), JSON.stringify(cc, null, 4));
    const r = runInit(dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("registered autoresearch in opencode.json");
    expect(r.stdout).toContain("registered autoresearch in .mcp.json");

    const oc2 = readJson(path.join(dir, "opencode.json"));
    const { autoresearch, ...otherMcp } = oc2.mcp;
    expect(otherMcp).toEqual(oc.mcp);
    expect({ ...oc2, mcp: otherMcp }).toEqual(oc);
    expect(Object.keys(oc2)).toEqual(Object.keys(oc));
    expect(autoresearch.type).toBe("local");

    const cc2 = readJson(path.join(dir, ".mcp.json"));
    expect(cc2.mcpServers.filesystem).toEqual(cc.mcpServers.filesystem);
    expect(cc2.other).toEqual(cc.other);
    expect(Object.keys(cc2.mcpServers)).toEqual(["filesystem", "autoresearch"]);
  });

  it("updates only a stale autoresearch entry, keeping the user's own settings in it", () => {
    const dir = wsDir();
    fs.writeFileSync(
      path.join(dir, "opencode.json"),
      JSON.stringify({ mcp: { autoresearch: { type: "local", command: ["old-autoresearch"], enabled: false, environment: { CUDA_VISIBLE_DEVICES: "1" } }, other: { type: "local", command: ["x"] } } }, null, 2) + "\n",
    );
    fs.writeFileSync(path.join(dir, ".mcp.json"), JSON.stringify({ mcpServers: { autoresearch: { type: "stdio", command: "old", args: [], env: { CUDA_VISIBLE_DEVICES: "1" } } } }));
    const r = runInit(dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("updated the autoresearch entry in opencode.json");
    expect(r.stdout).toContain("updated the autoresearch entry in .mcp.json");
    const oc = readJson(path.join(dir, "opencode.json"));
    // no $schema is added to a file the user wrote without one
    expect(oc.$schema).toBeUndefined();
    expect(oc.mcp.other).toEqual({ type: "local", command: ["x"] });
    expect(oc.mcp.autoresearch).toMatchObject({ type: "local", command: ["node", CLI, "serve"], enabled: true, environment: { CUDA_VISIBLE_DEVICES: "1" } });
    const cc = readJson(path.join(dir, ".mcp.json"));
    expect(cc.mcpServers.autoresearch).toEqual({ type: "stdio", command: "node", args: [CLI, "serve"], env: { CUDA_VISIBLE_DEVICES: "1" } });
  });

  it("adds the Codex table to an existing .codex/config.toml, keeping everything in it", () => {
    const dir = wsDir();
    fs.mkdirSync(path.join(dir, ".codex"));
    const mine = 'model = "gpt-5"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\nargs = []'; // no final newline
    fs.writeFileSync(path.join(dir, ".codex/config.toml"), mine);
    const r = runInit(dir);
    expect(r.stdout).toContain("registered autoresearch in .codex/config.toml\n");
    const toml = fs.readFileSync(path.join(dir, ".codex/config.toml"), "utf8");
    expect(toml.startsWith(mine + "\n\n[mcp_servers.autoresearch]\n")).toBe(true);
    expect(runInit(dir).stdout).toContain("unchanged: .codex/config.toml");
  });

  it("replaces a Codex table init wrote before (e.g. the checkout moved), and keeps the user's sub-tables", () => {
    const dir = wsDir();
    expect(runInit(dir).code).toBe(0);
    const file = path.join(dir, ".codex/config.toml");
    const fresh = fs.readFileSync(file, "utf8");
    const extra = '\n[mcp_servers.autoresearch.env]\nCUDA_VISIBLE_DEVICES = "1"\n';
    fs.writeFileSync(file, fresh.replace(JSON.stringify(CLI), '"/old/place/dist/cli.js"').replace(/tool_timeout_sec = \d+/, "tool_timeout_sec = 60") + extra);
    const r = runInit(dir);
    expect(r.stdout).toContain("updated the autoresearch entry in .codex/config.toml");
    expect(fs.readFileSync(file, "utf8")).toBe(fresh + extra);
  });

  for (const [what, toml] of [
    ["its own autoresearch table", '[mcp_servers.autoresearch]\ncommand = "my-wrapper"\n'],
    ["an autoresearch key under [mcp_servers]", '[mcp_servers]\nautoresearch = { command = "x" }\n'],
    ["an inline mcp_servers table", 'mcp_servers = { other = { command = "x" } }\n'],
  ]) {
    it(`leaves a .codex/config.toml with ${what} alone and prints the table to add`, () => {
      const dir = wsDir();
      fs.mkdirSync(path.join(dir, ".codex"));
      fs.writeFileSync(path.join(dir, ".codex/config.toml"), toml);
      const r = runInit(dir);
      expect(r.code).toBe(0);
      expect(fs.readFileSync(path.join(dir, ".codex/config.toml"), "utf8")).toBe(toml);
      expect(r.stdout).toMatch(/left \.codex\/config\.toml as it is: .*Put this table in it by hand:\n  \[mcp_servers\.autoresearch\]\n  command = "node"\n  args = \[/);
      // the other files are still set up
      expect(r.stdout).toContain("registered autoresearch in .mcp.json");
    });
  }

  it("changes nothing when run twice", () => {
    const dir = wsDir();
    fs.writeFileSync(path.join(dir, "opencode.json"), JSON.stringify({ $schema: "https://opencode.ai/config.json", mcp: { other: { type: "local", command: ["x"] } } }));
    expect(runInit(dir).code).toBe(0);
    const before = snapshot(dir);
    const mtimes = Object.keys(before).map((f) => fs.statSync(path.join(dir, f)).mtimeMs);
    const r = runInit(dir);
    expect(r.code).toBe(0);
    expect(snapshot(dir)).toEqual(before);
    expect(Object.keys(before).map((f) => fs.statSync(path.join(dir, f)).mtimeMs)).toEqual(mtimes);
    for (const rel of [...SKILL_TARGETS, "opencode.json", ".mcp.json", ".codex/config.toml"]) expect(r.stdout).toContain(`unchanged: ${rel}`);
    expect(r.stdout).not.toMatch(/^(wrote|registered|updated) /m);
    // and through the API: nothing changed
    expect(init(dir, { command: ["node", CLI, "serve"] }).changed).toEqual([]);
  });

  it("leaves a user's hand-formatted config alone when the entry is already right", () => {
    const dir = wsDir();
    expect(runInit(dir).code).toBe(0);
    const file = path.join(dir, "opencode.json");
    const compact = JSON.stringify(readJson(file)); // one line, as a user might keep it
    fs.writeFileSync(file, compact);
    const r = runInit(dir);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(compact);
  });

  for (const bad of ["opencode.json", ".mcp.json"]) {
    it(`refuses an invalid ${bad}, names it, and writes nothing`, () => {
      const dir = wsDir();
      const broken = '{ "mcp": { "x": 1, } // comment\n';
      fs.writeFileSync(path.join(dir, bad), broken);
      const before = snapshot(dir);
      const r = runInit(dir);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(path.join(dir, bad));
      expect(r.stderr).toMatch(/not valid JSON/);
      expect(r.stdout).toBe("");
      expect(fs.readFileSync(path.join(dir, bad), "utf8")).toBe(broken);
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it("refuses a config whose mcp section is not an object", () => {
    const dir = wsDir();
    fs.writeFileSync(path.join(dir, "opencode.json"), JSON.stringify({ mcp: ["not", "an", "object"] }));
    const r = runInit(dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("opencode.json");
    expect(fs.existsSync(path.join(dir, ".mcp.json"))).toBe(false);
  });

  it("never writes outside the directory through a symlink", () => {
    const dir = wsDir();
    const outside = tmpDir("arinit-outside-");
    fs.symlinkSync(outside, path.join(dir, ".claude"));
    const r = runInit(dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/outside/);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(dir, ".opencode"))).toBe(false);
  });

  it("refuses a directory that does not exist", () => {
    const r = runInit(path.join(tmpDir(), "missing"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not a directory/);
  });
});

/** The YAML frontmatter of SKILL.md as key → string (it only uses plain and double-quoted scalars). */
function frontmatter(text: string): Record<string, string> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(text);
  if (!m) throw new Error("SKILL.md has no frontmatter");
  const out: Record<string, string> = {};
  for (const line of m[1].split("\n")) {
    const kv = /^([a-z][a-z0-9-]*):\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`unexpected frontmatter line: ${line}`);
    let v = kv[2];
    if (v.startsWith('"')) {
      expect(v.endsWith('"') && v.length >= 2, `unterminated quote: ${line}`).toBe(true);
      v = JSON.parse(v);
    } else {
      // a plain YAML scalar must not contain ": " or " #", nor start with an indicator
      expect(/: | #|^[-?:,[\]{}#&*!|>'"%@`]/.test(v), `needs quoting: ${line}`).toBe(false);
    }
    out[kv[1]] = v;
  }
  return out;
}

describe("skills/autoresearch/SKILL.md", () => {
  const text = fs.readFileSync(SKILL, "utf8");
  const toolNames = TOOLS.map((t) => t.name);

  it("is an Agent Skill named autoresearch with a description that triggers it", () => {
    const fm = frontmatter(text);
    expect(fm.name).toBe("autoresearch");
    expect(path.basename(path.dirname(SKILL))).toBe(fm.name);
    expect(fm.description.length).toBeGreaterThan(0);
    expect(fm.description.length).toBeLessThanOrEqual(1024);
    for (const word of ["autoresearch", "overnight", "train.py", "val_bpb"]) expect(fm.description).toContain(word);
  });

  it("names only real tools, and every tool", () => {
    // snake_case words that are not tools: metric and summary keys, file names
    const notTools = new Set(["val_bpb", "peak_vram_mb", "memory_gb"]);
    const mentioned = new Set(
      [...text.matchAll(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g)]
        .map((m) => m[0])
        .filter((w) => !notTools.has(w))
        // client-prefixed forms: opencode autoresearch_<tool>
        .map((w) => w.replace(/^autoresearch_/, "")),
    );
    for (const m of text.matchAll(/mcp__autoresearch__([a-z_]+)/g)) mentioned.add(m[1]);
    // one-word tools (status, commit) count when written in code: `status`; anything written
    // as a call, `word {...}`, must be a tool (backticked field names such as `best` are not calls)
    for (const m of text.matchAll(/`([a-z]+)`/g)) if (toolNames.includes(m[1])) mentioned.add(m[1]);
    for (const m of text.matchAll(/`([a-z_]+) \{/g)) mentioned.add(m[1]);
    const unknown = [...mentioned].filter((w) => !toolNames.includes(w));
    expect(unknown).toEqual([]);
    const missing = toolNames.filter((t) => !mentioned.has(t));
    expect(missing).toEqual([]);
  });

  it("says how the noise-aware rule decides and what the agent does about it (due, revoked, repeat)", () => {
    expect(text).toMatch(/\*\*mean\*\* `val_bpb`/);
    expect(text).toMatch(/"due":"run_training"/);
    expect(text).toMatch(/\*\*revoked\*\*/);
    expect(text).toMatch(/run_training \{"repeat":true\}/);
    expect(text).toMatch(/mean ± σ\/√n/);
  });

  it("stays short enough to read at a glance", () => {
    expect(text.split("\n").length).toBeLessThanOrEqual(120);
  });
});

describe("mcp.json", () => {
  it("is a ready stdio registration from a checkout: node, the bin's file, serve, --workspace (paths to fill in)", () => {
    const j = readJson(path.join(ROOT, "mcp.json"));
    expect(Object.keys(j.mcpServers)).toEqual(["autoresearch"]);
    const e = j.mcpServers.autoresearch;
    expect(e).toEqual({ type: "stdio", command: "node", args: [expect.any(String), "serve", "--workspace", expect.any(String)], env: {} });
    const pkg = readJson(path.join(ROOT, "package.json"));
    expect(e.args[0].endsWith(`/${pkg.bin["autoresearch-mcp"]}`)).toBe(true);
    expect(path.isAbsolute(e.args[0]) && path.isAbsolute(e.args[3])).toBe(true);
    // the README shows the same block
    expect(fs.readFileSync(path.join(ROOT, "README.md"), "utf8")).toContain(JSON.stringify(e.args).replace(/","/g, '", "'));
  });
});
