#!/usr/bin/env node
// End-to-end test with a real Codex CLI and a scripted model:
//
//  1. installs @openai/codex on demand into <tmpdir>/autoresearch-e2e/codex-<version> (never a
//     dependency of this package); the native binary comes from its platform package;
//  2. copies examples/tiny-lm into a temp git repository with a baseline that sleeps 320 s first
//     (past Codex's default 300 s tool_timeout_sec, which progress does not extend), and runs
//     `autoresearch-mcp init`;
//  3. runs `codex exec --json` with its own CODEX_HOME (config.toml: the fake as a Responses API
//     provider, the server as a required MCP server, plugins/apps off) against
//     scripts/fake-responses.mjs, whose script calls start_session, run_training (the baseline;
//     again with its runId while it answers "running"), log_result; as its answer says
//     "due": "run_training" (the noise-aware rule measures the baseline twice), apply_patch (which
//     the server must refuse while the repeat is due), the baseline again (another 320 s) and its
//     log_result; apply_patch, a tamper of prepare.py through Codex's own exec_command tool, commit
//     (which the server must refuse), the undo, commit, run_training, log_result, the confirmation
//     run of the new keep and its log_result (again as `due` says), status, and ends the turn;
//  4. asserts every answer the model saw (the structuredContent JSON, which must carry `next`;
//     log_result's `due` and `decision`, status's best and noise), that both baseline runs finished
//     with no failed call, results.tsv (each commit kept twice, the second row `[run 2: mean …]`),
//     the run log (.git/autoresearch/runs.jsonl), git, the clientInfo the server was sent (through
//     scripts/mcp-tap.mjs), and that no process is left on the workspace.
//
// The workspace keeps the default noise settings (the baseline runs twice): the 320 s baseline's
// repeat is the second call chain past tool_timeout_sec, and the run takes about 11 minutes.
//
// Codex runs with HOME, XDG dirs and CODEX_HOME under the temp dir and talks only to the fake.
//
//   node scripts/e2e-codex.mjs [--quick | --long | --sleep S] [--queue] [--poll S] [--codex-version V]
//                              [--tool-timeout S] [--limit S] [--keep] [--verbose]
// --long (the default): the 320 s baseline; --quick: 3 s, for development; --poll S: the model
// passes waitSeconds S to run_training, so the "running" answer and the call again with the runId
// are exercised; --queue: the queued loop (queueSteps in e2e-lib.mjs; log_result {"wait": true}
// answers "waiting" before Codex's limit and is called again); --tool-timeout S sets tool_timeout_sec (default: Codex's own, 300 s).
// Env: CODEX_VERSION.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startFakeResponses } from "./fake-responses.mjs";
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

const DEFAULT_VERSION = "0.171.0"; // SPEC §7: Codex CLI 0.171
const PKG = "@openai/codex";
const CODEX_TOOL_TIMEOUT_S = 300; // Codex's default tool_timeout_sec

function usage(msg) {
  console.error(`e2e-codex: ${msg}\nusage: node scripts/e2e-codex.mjs [--quick | --long | --sleep S] [--queue] [--poll S] [--codex-version V] [--tool-timeout S] [--limit S] [--keep] [--verbose]`);
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
      "codex-version": { type: "string" },
      "tool-timeout": { type: "string" },
      limit: { type: "string" },
      keep: { type: "boolean" },
      verbose: { type: "boolean" },
    },
  }).values;
} catch (e) {
  usage(e.message);
}
if ([args.quick, args.long, args.sleep !== undefined].filter(Boolean).length > 1) usage("--quick, --long and --sleep exclude each other");
const sleepSeconds = args.quick ? 3 : args.sleep !== undefined ? Number(args.sleep) : 320;
const poll = args.poll === undefined ? null : Number(args.poll);
const toolTimeout = args["tool-timeout"] === undefined ? null : Number(args["tool-timeout"]);
const version = args["codex-version"] ?? process.env.CODEX_VERSION ?? DEFAULT_VERSION;
const limitSeconds = Number(args.limit ?? 2 * sleepSeconds + 300); // the baseline runs twice (its repeat sleeps too)
const verbose = !!args.verbose;
if (!(sleepSeconds >= 0)) usage("--sleep takes seconds");
if (poll !== null && !(poll >= 1)) usage("--poll takes seconds (at least 1)");
if (toolTimeout !== null && !(toolTimeout > 0)) usage("--tool-timeout takes seconds");
const callLimit = toolTimeout ?? CODEX_TOOL_TIMEOUT_S;

const r = reporter("codex");
const state = { tmp: null, llm: null };
onSignals(r, state);
// Codex offers an MCP server's tools as the namespace mcp__<server>; fake-responses.mjs joins the
// namespace and the function name with "__".
const mcp = (tool) => `mcp__autoresearch__${tool}`;

function target() {
  const arch = { x64: "x86_64", arm64: "aarch64" }[process.arch];
  if (process.platform === "linux") return { triple: `${arch}-unknown-linux-musl`, pkg: `${PKG}-linux-${process.arch}` };
  if (process.platform === "darwin") return { triple: `${arch}-apple-darwin`, pkg: `${PKG}-darwin-${process.arch}` };
  if (process.platform === "win32") return { triple: `${arch}-pc-windows-msvc`, pkg: `${PKG}-win32-${process.arch}` };
  throw new Error(`no Codex build for ${process.platform}/${process.arch}`);
}

const toml = (v) => JSON.stringify(v); // a TOML basic string or array of strings

async function main() {
  r.say(`e2e-codex: node ${process.version}, repo ${REPO}`);
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  if (spawnSync("python3", ["--version"]).status !== 0) throw new Error("python3 is needed to run the example's train.py");

  const t = target();
  const exe = process.platform === "win32" ? "codex.exe" : "codex";
  const cx = await installFromNpm(r, {
    pkg: PKG,
    version,
    dir: "codex",
    binaries: (prefix) => [path.join(prefix, "node_modules", t.pkg, "vendor", t.triple, "bin", exe)],
    matches: (out) => out.endsWith(` ${version}`),
  });
  r.say(`Codex: ${cx.versionLine} at ${cx.bin}`);

  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-codex-"));
  const tmp = state.tmp;
  const ws = prepareWorkspace(tmp, sleepSeconds, `the baseline outlasts Codex's ${CODEX_TOOL_TIMEOUT_S} s tool_timeout_sec`);
  r.say(`workspace ${ws}`);
  await initWorkspace(r, ws);
  const base = git(ws, "rev-parse", "HEAD");

  const steps = args.queue ? queueSteps({ mcp, sleepSeconds }) : loopSteps({ mcp, shell: (cmd) => ({ tool: "exec_command", args: { cmd } }), sleepSeconds, poll });
  const finalText = "Finished the scripted autoresearch session: baseline and one experiment logged.";
  state.llm = await startFakeResponses({ steps, finalText, log: (l) => r.say(l), dumpDir: path.join(tmp, "requests") });
  const llm = state.llm;
  r.say(`fake Responses API at ${llm.baseURL}`);

  const home = path.join(tmp, "home");
  const env = isolatedEnv(home);
  env.CODEX_HOME = path.join(home, ".codex");
  fs.mkdirSync(env.CODEX_HOME, { recursive: true });
  const tapLog = path.join(tmp, "mcp-tap.jsonl");
  const server = serverCommand(ws, tapLog);
  const config = [
    `model = "scripted"`,
    `model_provider = "fake"`,
    `approval_policy = "never"`,
    `sandbox_mode = "danger-full-access"`,
    ``,
    `[model_providers.fake]`,
    `name = "Scripted e2e model"`,
    `base_url = ${toml(llm.baseURL)}`,
    `wire_api = "responses"`,
    ``,
    `[mcp_servers.autoresearch]`,
    `command = ${toml(server.command)}`,
    `args = [${server.args.map(toml).join(", ")}]`,
    `required = true`,
    ...(toolTimeout !== null ? [`tool_timeout_sec = ${toolTimeout}`] : []),
    ``,
    `# offline: no plugin, app or remote plugin sync (SPEC §7)`,
    `[features]`,
    `plugins = false`,
    `apps = false`,
    `remote_plugin = false`,
    ``,
  ].join("\n");
  fs.writeFileSync(path.join(env.CODEX_HOME, "config.toml"), config);
  r.say(`config.toml:\n${config.replace(/^/gm, "    ")}`);

  const prompt = `Run autoresearch in this workspace with the tag "${TAG}": set up, run the baseline, then experiment.`;
  const cargs = ["exec", "--json", "--strict-config", "-C", ws, prompt];
  r.say(`codex ${cargs.map((a) => (a === prompt ? JSON.stringify(a) : a)).join(" ")}`);
  const items = [];
  let turnFailed = null;
  const res = await runClient(r, {
    bin: cx.bin,
    args: cargs,
    cwd: ws,
    env,
    limitSeconds,
    tmp,
    name: "codex",
    verbose,
    onEvent: (ev) => {
      if (ev.type === "item.completed") {
        items.push(ev.item);
        const it = ev.item;
        if (it.type === "mcp_tool_call") r.say(`codex: mcp ${it.server}/${it.tool} ${it.status}${it.error ? `: ${oneLine(JSON.stringify(it.error), 200)}` : ""}`);
        else if (it.type === "command_execution") r.say(`codex: command ${oneLine(it.command, 80)} exit ${it.exit_code} ${it.status}`);
        else if (it.type === "agent_message") r.say(`codex: message: ${oneLine(it.text, 120)}`);
        else if (it.type === "error") r.say(`codex: error item: ${oneLine(it.message, 200)}`);
      } else if (ev.type === "turn.failed" || ev.type === "error") {
        turnFailed = ev;
        r.say(`codex: ${ev.type}: ${oneLine(JSON.stringify(ev), 300)}`);
      }
    },
  });
  r.timings.push(["codex exec", res.ms]);
  r.check("codex exec exits 0", res.code === 0, `exit ${res.code ?? res.signal} after ${secs(res.ms)}`);

  // Codex's own verdict on each MCP call, in call order (its item ids are not the call ids).
  const mcpItems = items.filter((i) => i.type === "mcp_tool_call");
  const mcpCalls = llm.calls.filter((c) => c.tool.startsWith("mcp__") && c.result !== null);
  const verdict = new Map(mcpCalls.map((c, i) => [c, mcpItems[i]]));
  const isError = (c) => {
    if (!c.tool.startsWith("mcp__")) {
      const cmd = items.filter((i) => i.type === "command_execution");
      const k = llm.calls.filter((x) => !x.tool.startsWith("mcp__") && x.result !== null).indexOf(c);
      return cmd[k] ? cmd[k].status !== "completed" || cmd[k].exit_code !== 0 : /exit code [1-9]/i.test(c.result ?? "");
    }
    const it = verdict.get(c);
    return !it || it.status !== "completed" || !!it.error || !!it.result?.is_error || !!it.result?.isError;
  };
  checkCalls(r, llm, { isError });
  if (!args.queue)
    checkRuns(r, llm, {
      isError,
      sleepSeconds,
      minMs: sleepSeconds * 1000,
      why: sleepSeconds > callLimit ? ` (past Codex's ${callLimit} s tool_timeout_sec)` : "",
    });
  const messages = items.filter((i) => i.type === "agent_message");
  r.check("the turn ends with the model's final text", llm.finalSentAt !== null && messages.at(-1)?.text === finalText, oneLine(messages.at(-1)?.text, 120));
  r.check("Codex reports no failed turn", turnFailed === null, turnFailed ? oneLine(JSON.stringify(turnFailed), 300) : "");
  for (const it of items.filter((i) => i.type === "error")) r.note(`Codex error item: ${oneLine(it.message, 200)}`);

  const { head } = await checkWorkspace(r, ws, base, { sleepSeconds });
  if (args.queue) checkQueue(r, llm, ws, { sleepSeconds });
  else {
    const { logs, st } = answersOf(llm);
    checkNoise(r, logs, st, { base, head });
  }
  const tapped = checkTap(r, tapLog, { client: "Codex" });
  const aux = llm.requests.filter((q) => q.kind === "aux").length;
  if (aux) r.note(`${aux} auxiliary model request(s) (no script tools on offer) got a plain text`);
  const warn = fs
    .readFileSync(res.logPath, "utf8")
    .split("\n")
    .filter((l) => /WARN|ERROR|warning|error/i.test(l));
  for (const l of [...new Set(warn)].slice(0, 8)) r.note(`codex stderr: ${oneLine(l, 220)}`);
  return { ws, cx, tapped };
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
  header.push(`Codex ${outcome.cx.versionLine} (${path.relative(outcome.cx.prefix, outcome.cx.bin)}); node ${process.version}; baseline sleep ${sleepSeconds} s${poll ? `, poll ${poll} s` : ""}; tool_timeout_sec ${toolTimeout ?? `default (${CODEX_TOOL_TIMEOUT_S})`}`);
  if (outcome.tapped?.info) header.push(`clientInfo: ${JSON.stringify(outcome.tapped.info)}`);
}
await finish(r, state, { outcome, fatal, verbose, keep: !!args.keep, header, files: ["codex.log", "codex-events.jsonl", "mcp-tap.jsonl", "requests/"] });
