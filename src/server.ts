import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Session } from "./session/session.js";
import { TOOLS } from "./tools/index.js";
import { registerTool, type SessionApi } from "./tools/define-tool.js";
import { ProtocolRefusal } from "./errors.js";
import { VERSION } from "./version.js";

export const SKILL_PATH = fileURLToPath(new URL("../skills/autoresearch/SKILL.md", import.meta.url));

const INSTRUCTIONS = `autoresearch-mcp runs Karpathy's autoresearch loop on one workspace and enforces its rules.
Setup: start_session {tag}, then the baseline: run_training, log_result {description:"baseline"}.
Loop: status / read_train -> apply_patch (train.py only) -> commit -> run_training -> log_result -> reset_to_best unless kept.
The server proposes keep/discard/crash; every answer ends with what to do next. Never ask the human whether to continue.`;

export interface ServerOptions {
  workspace: string;
  progressIntervalMs?: number;
  log?: (msg: string) => void;
  /** the workspace session to serve (HTTP: one shared by every client session); default: a new one */
  session?: SessionApi;
}

/** Builds the MCP server for one workspace; `close` stops a run in progress and its tree. */
export function createServer(opts: ServerOptions) {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[autoresearch-mcp] ${m}\n`));
  const session = opts.session ?? lazySession(opts.workspace, { progressIntervalMs: opts.progressIntervalMs });
  const server = new McpServer({ name: "autoresearch-mcp", version: VERSION }, { instructions: INSTRUCTIONS, capabilities: { logging: {} } });
  for (const tool of TOOLS) registerTool(server, session, tool, log);

  server.registerPrompt(
    "autoresearch",
    { title: "Autoresearch playbook", description: "The playbook for running the autoresearch loop through this server's tools." },
    () => ({ messages: [{ role: "user", content: { type: "text", text: readSkill() } }] }),
  );

  const fileResource = (name: string, uri: string, description: string, read: () => Promise<string>) =>
    server.registerResource(name, uri, { title: name, description, mimeType: "text/plain" }, async (u) => ({ contents: [{ uri: u.href, mimeType: "text/plain", text: await read() }] }));
  fileResource("train.py", "autoresearch://workspace/editable", "The editable training script.", async () => (await session.readFile({})).content);
  fileResource("results.tsv", "autoresearch://workspace/results", "The results log (last 200 rows).", async () => {
    const s = await session.status({ rows: 200 });
    return ["commit\t" + s.metric + "\tmemory_gb\tstatus\tdescription", ...s.lastRows.map((r) => [r.commit, r.metric, r.memoryGb, r.status, r.description].join("\t"))].join("\n");
  });
  fileResource("run.log tail", "autoresearch://workspace/log-tail", "The last 50 records of run.log.", async () => {
    // Before the first run there is no run.log: an answer, not an internal error (-32603).
    const m = await session.parseMetrics({}).catch((e: unknown) => {
      if (e instanceof ProtocolRefusal && e.code === "missing_file") return null;
      throw e;
    });
    if (!m) return "(no run yet: run.log does not exist)";
    return m.tail.length ? m.tail.join("\n") : Object.entries(m.metrics).map(([k, v]) => `${k}: ${v}`).join("\n");
  });

  return {
    server,
    close: async () => {
      await session.close();
      await server.close().catch(() => undefined);
    },
  };
}

/**
 * A stand-in for `Session` that imports the session module (git, execa, the guards: most of the
 * server's code) on the first tool call. `initialize` and `tools/list` need only the SDK and the
 * tools' zod schemas; Claude Code and Codex start their first turn without a server that has not
 * answered by then (bench figure 6). `close` loads nothing: without a session there is no run.
 */
export function lazySession(dir: string, opts: { progressIntervalMs?: number } = {}): SessionApi {
  let loading: Promise<Session> | null = null;
  const load = () =>
    (loading ??= import("./session/session.js").then(
      (m) => new m.Session(dir, opts),
      (e: unknown) => {
        loading = null;
        throw e;
      },
    ));
  const call = async <T>(fn: (s: Session) => Promise<T>): Promise<T> => fn(await load());
  return {
    workspace: () => call((s) => s.workspace()),
    startSession: (a) => call((s) => s.startSession(a)),
    readFile: (a) => call((s) => s.readFile(a)),
    applyPatch: (a) => call((s) => s.applyPatch(a)),
    commit: (a) => call((s) => s.commit(a)),
    runTraining: (a, cb) => call((s) => s.runTraining(a, cb)),
    parseMetrics: (a, cb) => call((s) => s.parseMetrics(a, cb)),
    logResult: (a, cb) => call((s) => s.logResult(a, cb)),
    resetToBest: () => call((s) => s.resetToBest()),
    status: (a) => call((s) => s.status(a)),
    close: async () => {
      if (loading) await (await loading.catch(() => null))?.close();
    },
  };
}

export function readSkill(): string {
  try {
    return fs.readFileSync(SKILL_PATH, "utf8");
  } catch {
    return INSTRUCTIONS;
  }
}
