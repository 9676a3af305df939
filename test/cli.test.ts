import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { TOOLS } from "../src/tools/index.js";
import { CLI, startClient, text, type Started } from "./helpers/client.js";
import { CALL_MS, WAIT_MS } from "./helpers/timeouts.js";
import { git, makeWorkspace, removeWorkspaces } from "./helpers/workspace.js";

// The command line as a user (or a client's config) runs it: the built dist/cli.js.

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version as string;

const dirs: string[] = [];
const servers: Started[] = [];
function tmpDir(): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "arcli-")));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  removeWorkspaces();
});
beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it in pretest)`);
});

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: WAIT_MS, stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) throw new Error(`autoresearch-mcp ${args.join(" ")} did not finish within ${WAIT_MS / 1000} s: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function serve(workspace: string): Promise<Started> {
  const s = await startClient(workspace);
  servers.push(s);
  return s;
}

/** Waits for an event (a line on stderr or stdout), at most WAIT_MS. */
async function until(cond: () => boolean, ms = WAIT_MS) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cond();
}

describe("autoresearch-mcp help and version", () => {
  for (const arg of ["help", "-h", "--help"]) {
    it(`${arg}: usage on stdout, exit 0`, () => {
      const r = cli(arg);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain(`autoresearch-mcp ${VERSION}`);
      for (const cmd of ["serve", "init [DIR] [--force]", "demo", "status", "report", "--version"]) expect(r.stdout).toContain(cmd);
    });
  }
  it("init --help shows the usage instead of running init", () => {
    const dir = tmpDir();
    const r = cli("init", dir, "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:");
    expect(fs.readdirSync(dir)).toEqual([]);
  });
  for (const arg of ["-v", "--version"]) {
    it(`${arg}: the version on stdout, exit 0`, () => {
      const r = cli(arg);
      expect(r).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
    });
  }
  it("an unknown command or argument: what was wrong and the usage on stderr, exit 2", () => {
    for (const args of [["frobnicate"], ["serve", "--bogus"], ["status", "extra"], ["init", "a", "b"]]) {
      const r = cli(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^autoresearch-mcp: (unknown command|unexpected argument) /);
      expect(r.stderr).toContain("Usage:");
    }
  });
});

describe("autoresearch-mcp serve on an unusable workspace", () => {
  it("warns on stderr with the fix, and still answers initialize and tools/list; tools refuse with the reason", async () => {
    const dir = tmpDir(); // not a git repository, no train.py
    const s = await serve(dir);
    expect(s.client.getServerVersion()).toMatchObject({ name: "autoresearch-mcp", version: VERSION });
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
    expect(await until(() => /keeps running/.test(s.stderr())), s.stderr()).toBe(true);
    expect(s.stderr()).toContain(`warning: workspace ${dir} is not a git repository. Fix: cd ${dir} && git init`);
    expect(s.stderr()).toContain(`warning: train.py, the file the agent edits, is missing in ${dir}.`);
    const r = await s.client.callTool({ name: "status", arguments: {} }, undefined, { timeout: CALL_MS });
    expect(r.isError).toBe(true);
    expect(text(r as never)).toMatch(/^Refused: /);
    expect(s.errors).toEqual([]);
  });

  it("names the repository root when started in a subfolder of one, and a broken autoresearch.json", async () => {
    const ws = makeWorkspace();
    fs.mkdirSync(path.join(ws, "sub"));
    fs.writeFileSync(path.join(ws, "sub", "autoresearch.json"), '{"budgetSeconds": "five"}');
    const s = await serve(path.join(ws, "sub"));
    expect((await s.client.listTools()).tools.length).toBe(TOOLS.length);
    expect(await until(() => /keeps running/.test(s.stderr())), s.stderr()).toBe(true);
    expect(s.stderr()).toContain(`is inside the git repository ${ws}, not at its root. Fix: pass --workspace ${ws}`);
    expect(s.stderr()).toMatch(/warning: autoresearch\.json: budgetSeconds: .*Fix: correct autoresearch\.json/);
  });

  it("says the check passed, and nothing else, for a good workspace", async () => {
    const s = await serve(makeWorkspace());
    await s.client.listTools();
    expect(await until(() => /workspace check: ok/.test(s.stderr())), s.stderr()).toBe(true);
    expect(s.stderr()).toMatch(/serving/);
    expect(s.stderr()).not.toMatch(/warning/);
  });

});

describe("autoresearch-mcp serve: start-up", () => {
  it("answers initialize and tools/list without loading the session, git or execa (they load on the first tool call)", async () => {
    // A resolve hook lists every module the server loads; the answers must not wait for the heavy ones.
    const hook = path.join(tmpDir(), "trace.mjs");
    fs.writeFileSync(
      hook,
      `import { register } from "node:module";\nregister("data:text/javascript," + encodeURIComponent(\`export async function resolve(s, c, n) { const r = await n(s, c); process._rawDebug("LOADED " + r.url); return r; }\`));\n`,
    );
    const ws = makeWorkspace();
    const child = spawn(process.execPath, ["--import", hook, CLI, "serve", "--workspace", ws], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const send = (m: object) => child.stdin.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\n");
    try {
      send({ id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "0" } } });
      send({ method: "notifications/initialized" });
      send({ id: 2, method: "tools/list", params: {} });
      expect(await until(() => /"id":2/.test(stdout)), stderr).toBe(true);
      const before = stderr;
      for (const heavy of ["/dist/session/", "/dist/git.js", "/node_modules/isomorphic-git/", "/node_modules/execa/", "/node_modules/diff/"]) expect(before, heavy).not.toContain(heavy);
      send({ id: 3, method: "tools/call", params: { name: "status", arguments: {} } });
      expect(await until(() => /"id":3/.test(stdout)), stderr).toBe(true);
      expect(stderr).toContain("/dist/session/session.js");
    } finally {
      child.stdin.end();
      await new Promise((r) => child.once("exit", r));
    }
  });
});

describe("autoresearch-mcp init from the command line", () => {
  it("refuses a folder without train.py, says why and how, and writes nothing; --force sets it up anyway", () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "notes.txt"), "x");
    const r = cli("init", dir);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${dir} has no train.py, the file the agent edits`);
    expect(r.stderr).toContain("--force");
    expect(r.stderr).toContain("Nothing was written.");
    expect(fs.readdirSync(dir)).toEqual(["notes.txt"]);

    const f = cli("init", dir, "--force");
    expect(f.code, f.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, ".mcp.json"))).toBe(true);
  });

  it("follows autoresearch.json's editable: a folder with that file is a workspace, one without is not", () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "autoresearch.json"), JSON.stringify({ editable: "model.py" }));
    fs.writeFileSync(path.join(dir, "train.py"), "");
    const r = cli("init", dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`has no model.py, the file the agent edits ("editable" in autoresearch.json)`);
    fs.writeFileSync(path.join(dir, "model.py"), "");
    expect(cli("init", dir).code).toBe(0);
  });

  it("refuses a broken autoresearch.json instead of guessing the editable file", () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "autoresearch.json"), "{ not json");
    fs.writeFileSync(path.join(dir, "train.py"), "");
    const r = cli("init", dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/autoresearch\.json: not valid JSON/);
    expect(fs.readdirSync(dir).sort()).toEqual(["autoresearch.json", "train.py"]);
  });

  it("installs the skill for Codex and registers the server in .codex/config.toml, a command that starts it", async () => {
    const ws = makeWorkspace();
    const r = cli("init", ws);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("wrote .agents/skills/autoresearch/SKILL.md");
    expect(r.stdout).toContain("registered autoresearch in .codex/config.toml (new file)");
    expect(fs.readFileSync(path.join(ws, ".agents/skills/autoresearch/SKILL.md"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "skills/autoresearch/SKILL.md"), "utf8"));
    // how to trust the project (Codex reads project config only then), printed, never written
    expect(r.stdout).toContain(`[projects.${JSON.stringify(ws)}]`);
    expect(r.stdout).toContain('trust_level = "trusted"');

    // parsed by a real TOML parser (Python's tomllib)
    const toml = spawnSync("python3", ["-c", "import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))", path.join(ws, ".codex/config.toml")], { encoding: "utf8" });
    expect(toml.status, toml.stderr).toBe(0);
    const entry = JSON.parse(toml.stdout).mcp_servers.autoresearch;
    expect(entry).toEqual({ command: "node", args: [CLI, "serve", "--workspace", ws], required: true, startup_timeout_sec: expect.any(Number), tool_timeout_sec: expect.any(Number) });
    expect(entry.tool_timeout_sec).toBeGreaterThanOrEqual(300);

    // the registration really starts the server: same binary for "node", the registered args, another cwd
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    const client = new Client({ name: "codex-like", version: "0" });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: entry.args, cwd: os.tmpdir(), stderr: "pipe" }), { timeout: CALL_MS });
    try {
      expect((await client.listTools()).tools.length).toBe(TOOLS.length);
      const st = await client.callTool({ name: "status", arguments: {} }, undefined, { timeout: CALL_MS });
      expect(st.isError, JSON.stringify(st.content)).toBeFalsy();
    } finally {
      await client.close();
    }

    // a second run changes nothing; git sees only untracked files, which need no commit
    const again = cli("init", ws);
    expect(again.stdout).toContain("unchanged: .codex/config.toml");
    expect(again.stdout).toContain("unchanged: .agents/skills/autoresearch/SKILL.md");
    expect(again.stdout).not.toMatch(/git commit|Tracked by git/);
    expect(git(ws, "status", "--porcelain", "--untracked-files=normal")).toBe("?? .agents/\n?? .claude/\n?? .codex/\n?? .mcp.json\n?? .opencode/\n?? opencode.json\n");
  });
});
