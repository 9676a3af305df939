#!/usr/bin/env node
// End-to-end test with a real Claude Code and a scripted model:
//
//  1. installs @anthropic-ai/claude-code on demand into <tmpdir>/autoresearch-e2e/claude-code-<version>
//     (never a dependency of this package); the native binary comes from the registry package
//     @anthropic-ai/claude-code-<os>-<arch>;
//  2. copies examples/tiny-lm into a temp git repository with a baseline that sleeps first (65 s by
//     default: past the 60 s many clients allow a call), and runs `autoresearch-mcp init`;
//  3. runs `claude -p` against scripts/fake-anthropic.mjs, a local Messages API endpoint whose
//     script loads the MCP tools with ToolSearch (Claude Code defers them), then start_session,
//     run_training (the baseline; again with its runId while it answers "running"), log_result;
//     as its answer says "due": "run_training" (the noise-aware rule measures the baseline twice),
//     apply_patch (which the server must refuse while the repeat is due), the baseline again and its
//     log_result; apply_patch, a tamper of prepare.py through Claude Code's own Bash tool, commit
//     (which the server must refuse), the undo through Bash, commit, run_training, log_result, the
//     confirmation run of the new keep and its log_result (again as `due` says), status, and ends
//     the turn;
//  4. asserts every answer the model saw (a successful result reaches it as the structuredContent
//     JSON only, which must carry `next`; log_result's `due` and `decision`, status's best and
//     noise), results.tsv (each commit kept twice, the second row `[run 2: mean …]`), the run log
//     (.git/autoresearch/runs.jsonl), git, the clientInfo the server was sent (through
//     scripts/mcp-tap.mjs), and that no process is left on the workspace.
//
// Claude Code runs with its own HOME and XDG dirs under the temp dir, telemetry, error reporting,
// auto-update and non-essential traffic turned off, and the fake at ANTHROPIC_BASE_URL: it touches
// neither the user's config nor the network.
//
//   node scripts/e2e-claude.mjs [--quick | --long | --sleep S] [--queue] [--poll S] [--claude-version V]
//                               [--no-tap] [--limit S] [--keep] [--verbose]
// --quick: a 3 s baseline; --long: 320 s (past Codex's 300 s; Claude Code has no such limit); the
// baseline runs twice, so its sleep counts twice;
// --queue: the queued loop instead (queueSteps in e2e-lib.mjs: the baseline's two runs and the
// experiment queued, then log_result {"wait": true} for each, the confirmation queued by the server);
// --poll S: the model passes waitSeconds S to run_training, so the "running" answer and the call
// again with the runId are exercised; --no-tap: the server as `init` registered it in .mcp.json
// (then the clientInfo is not seen). Env: CLAUDE_CODE_VERSION.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startFakeAnthropic } from "./fake-anthropic.mjs";
import {
  CLI,
  REPO,
  TAG,
  checkCalls,
  checkRuns,
  checkTap,
  answersOf,
  checkNoise,
  checkQueue,
  checkWorkspace,
  finish,
  git,
  initWorkspace,
  installFromNpm,
  isolatedEnv,
  loopSteps,
  queueSteps,
  oneLine,
  onSignals,
  prepareWorkspace,
  reporter,
  runClient,
  secs,
  serverCommand,
} from "./e2e-lib.mjs";

const DEFAULT_VERSION = "2.1.332"; // SPEC §7
const PKG = "@anthropic-ai/claude-code";

function usage(msg) {
  console.error(`e2e-claude: ${msg}\nusage: node scripts/e2e-claude.mjs [--quick | --long | --sleep S] [--queue] [--poll S] [--claude-version V] [--no-tap] [--limit S] [--keep] [--verbose]`);
  process.exit(2);
}
let args;
try {
  args = parseArgs({
    options: {
      quick: { type: "boolean" },
      queue: { type: "boolean" },
      long: { type: "boolean" },
      sleep: { type: "string" },
      poll: { type: "string" },
      "claude-version": { type: "string" },
      "no-tap": { type: "boolean" },
      limit: { type: "string" },
      keep: { type: "boolean" },
      verbose: { type: "boolean" },
    },
  }).values;
} catch (e) {
  usage(e.message);
}
if ([args.quick, args.long, args.sleep !== undefined].filter(Boolean).length > 1) usage("--quick, --long and --sleep exclude each other");
const sleepSeconds = args.quick ? 3 : args.long ? 320 : Number(args.sleep ?? 65);
const poll = args.poll === undefined ? null : Number(args.poll);
const version = args["claude-version"] ?? process.env.CLAUDE_CODE_VERSION ?? DEFAULT_VERSION;
const tap = !args["no-tap"];
const limitSeconds = Number(args.limit ?? 2 * sleepSeconds + 300); // the baseline runs twice (its repeat sleeps too)
const verbose = !!args.verbose;
if (!(sleepSeconds >= 0)) usage("--sleep takes seconds");
if (poll !== null && !(poll >= 1)) usage("--poll takes seconds (at least 1)");

const r = reporter("claude");
const state = { tmp: null, llm: null };
onSignals(r, state);
const mcp = (tool) => `mcp__autoresearch__${tool}`;
const USED = ["start_session", "run_training", "log_result", "apply_patch", "commit", "status"].map(mcp);

function platformPackages() {
  const os_ = { darwin: "darwin", linux: "linux", win32: "win32" }[process.platform] ?? process.platform;
  const base = `${PKG}-${os_}-${process.arch}`;
  return [base, `${base}-musl`];
}

async function main() {
  r.say(`e2e-claude: node ${process.version}, repo ${REPO}`);
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  if (spawnSync("python3", ["--version"]).status !== 0) throw new Error("python3 is needed to run the example's train.py");

  const exe = process.platform === "win32" ? "claude.exe" : "claude";
  const cc = await installFromNpm(r, {
    pkg: PKG,
    version,
    dir: "claude-code",
    binaries: (prefix) => platformPackages().map((p) => path.join(prefix, "node_modules", p, exe)),
    matches: (out) => out.startsWith(`${version} `) || out === version,
    env: { DISABLE_AUTOUPDATER: "1", DISABLE_TELEMETRY: "1" },
  });
  r.say(`Claude Code: ${cc.versionLine} at ${cc.bin}`);

  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-claude-"));
  const tmp = state.tmp;
  const ws = prepareWorkspace(tmp, sleepSeconds, "the baseline outlasts a 60 s tool timeout");
  r.say(`workspace ${ws}`);
  await initWorkspace(r, ws);
  const entry = JSON.parse(fs.readFileSync(path.join(ws, ".mcp.json"), "utf8")).mcpServers?.autoresearch;
  r.check(".mcp.json registers the server (init)", entry?.type === "stdio" && entry.args?.at(-2) === CLI && entry.args?.at(-1) === "serve", JSON.stringify(entry));
  const base = git(ws, "rev-parse", "HEAD");

  const tapLog = path.join(tmp, "mcp-tap.jsonl");
  const mcpConfig = path.join(tmp, "mcp-config.json");
  fs.writeFileSync(mcpConfig, JSON.stringify({ mcpServers: { autoresearch: { type: "stdio", ...serverCommand(ws, tapLog), env: {} } } }, null, 2) + "\n");

  // ToolSearch first: the MCP tools are deferred (named in a system message, no schema). A server
  // that is still connecting (Claude Code connects without blocking) is not found yet: try again.
  let searches = 0;
  const toolSearch = {
    tool: "ToolSearch",
    args: { query: `select:${USED.join(",")}` },
    expect: "toolsearch",
    label: "load the MCP tools",
    skip: (offered) => USED.every((t) => offered.has(t)),
    delayMs: 1000,
    again: (c) => (USED.every((t) => c.result.includes(t)) || ++searches >= 15 ? null : c.args),
    check: (c) => USED.every((t) => c.result.includes(t)),
  };
  const steps = args.queue
    ? queueSteps({ mcp, sleepSeconds, pre: [toolSearch] })
    : loopSteps({ mcp, shell: (command) => ({ tool: "Bash", args: { command, description: "e2e" } }), sleepSeconds, poll, pre: [toolSearch] });
  const finalText = "Finished the scripted autoresearch session: baseline and one experiment logged.";
  state.llm = await startFakeAnthropic({ steps, finalText, log: (l) => r.say(l), dumpDir: path.join(tmp, "requests") });
  const llm = state.llm;
  r.say(`fake Anthropic API at ${llm.baseURL}`);

  const home = path.join(tmp, "home");
  const env = Object.assign(isolatedEnv(home), {
    ANTHROPIC_BASE_URL: llm.baseURL,
    ANTHROPIC_API_KEY: "dummy",
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_ERROR_REPORTING: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  });
  const prompt = `Run autoresearch in this workspace with the tag "${TAG}": set up, run the baseline, then experiment.`;
  const cargs = ["-p", prompt, ...(tap ? ["--mcp-config", mcpConfig, "--strict-mcp-config"] : []), "--allowedTools", "mcp__autoresearch", "Bash", "--output-format", "stream-json", "--verbose"];
  r.say(`claude ${cargs.map((a) => (a === prompt ? JSON.stringify(a) : a)).join(" ")}`);
  let init = null;
  let result = null;
  const res = await runClient(r, {
    bin: cc.bin,
    args: cargs,
    cwd: ws,
    env,
    limitSeconds,
    tmp,
    name: "claude",
    verbose,
    onEvent: (ev) => {
      if (ev.type === "system" && ev.subtype === "init") {
        init = ev;
        r.say(`claude: init: mcp_servers ${JSON.stringify(ev.mcp_servers)}, permissionMode ${ev.permissionMode}, ${ev.tools?.length} tools`);
      } else if (ev.type === "result") {
        result = ev;
        r.say(`claude: result: ${ev.subtype}, is_error ${ev.is_error}, ${ev.num_turns} turns: ${oneLine(ev.result, 120)}`);
      } else if (ev.type === "assistant") {
        for (const b of ev.message?.content ?? []) if (b.type === "tool_use") r.say(`claude: tool_use ${b.name} ${oneLine(JSON.stringify(b.input), 100)}`);
      }
    },
  });
  r.timings.push(["claude -p", res.ms]);
  r.check("claude -p exits 0", res.code === 0, `exit ${res.code ?? res.signal} after ${secs(res.ms)}`);
  const server = init?.mcp_servers?.find((s) => s.name === "autoresearch");
  if (server?.status !== "connected") r.note(`the init event shows the server ${server ? server.status : "missing"} (Claude Code connects MCP servers without blocking the first turn)`);
  if (searches > 0) r.note(`ToolSearch found the MCP tools only on try ${searches + 1} (the server was still connecting)`);

  // What the model was told, tool by tool (is_error is the tool_result's flag).
  const isError = (c) => c.isError === true;
  checkCalls(r, llm, { isError });
  const ok = llm.calls.filter((c) => c.step.expect === "ok" && c.result !== null && !c.isError);
  r.check(
    "successful MCP results reach the model as their structuredContent JSON only",
    ok.length > 0 && ok.every((c) => typeof c.raw === "string" || (Array.isArray(c.raw) && c.raw.length === 1)),
    `${ok.length} results; content shapes: ${[...new Set(ok.map((c) => (typeof c.raw === "string" ? "string" : `${c.raw?.length} block(s)`)))].join(", ")}`,
  );
  if (!args.queue) checkRuns(r, llm, { isError, sleepSeconds, minMs: sleepSeconds * 1000 });
  r.check("the turn ends with the model's final text", llm.finalSentAt !== null && result?.result === finalText, oneLine(result?.result, 120));
  r.check(
    "Claude Code reports success, no permission denials",
    result?.subtype === "success" && result.is_error === false && (result.permission_denials ?? []).length === 0,
    result ? `${result.subtype}, is_error ${result.is_error}, denials ${JSON.stringify(result.permission_denials ?? [])}` : "no result event",
  );

  const { head } = await checkWorkspace(r, ws, base, { sleepSeconds });
  if (args.queue) checkQueue(r, llm, ws, { sleepSeconds });
  else {
    const { logs, st } = answersOf(llm);
    checkNoise(r, logs, st, { base, head });
  }
  let tapped = null;
  if (tap) tapped = checkTap(r, tapLog, { client: "Claude Code" });
  const aux = llm.requests.filter((q) => q.kind === "aux").length;
  if (aux) r.note(`${aux} auxiliary model request(s) (no script tools on offer) got a plain text`);
  return { ws, cc, tapped };
}

let outcome = null;
let fatal = null;
try {
  outcome = await main();
} catch (e) {
  fatal = e;
  r.check("e2e ran to the end", false, e instanceof Error ? e.message : String(e));
}
const header = [];
if (outcome) {
  header.push(`Claude Code ${outcome.cc.versionLine} (${path.relative(outcome.cc.prefix, outcome.cc.bin)}); node ${process.version}; baseline sleep ${sleepSeconds} s${poll ? `, poll ${poll} s` : ""}`);
  if (outcome.tapped?.info) header.push(`clientInfo: ${JSON.stringify(outcome.tapped.info)}`);
}
await finish(r, state, { outcome, fatal, verbose, keep: !!args.keep, header, files: ["claude.log", "claude-events.jsonl", "mcp-tap.jsonl", "requests/"] });
