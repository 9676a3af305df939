#!/usr/bin/env node
// End-to-end test with a real opencode and a scripted model:
//
//  1. installs opencode-ai on demand into <tmpdir>/autoresearch-e2e/opencode-<version> (never a
//     dependency of this package); the binary comes from the registry package opencode-<os>-<arch>;
//  2. copies examples/tiny-lm into a temp git repository, with a knob that makes the baseline run
//     sleep past opencode's default 60 s tool timeout, and registers the server with
//     `autoresearch-mcp init` (skill + opencode.json);
//  3. checks `opencode mcp list` (connected) and `opencode debug skill` (autoresearch found);
//  4. runs `opencode run` against scripts/fake-llm.mjs, a local OpenAI-compatible endpoint that
//     calls opencode's skill tool (only where ripgrep is on PATH), then start_session,
//     run_training (baseline, > 60 s), log_result; as its answer's `Next:` asks for the baseline
//     again (the noise-aware rule measures it twice), apply_patch (which the server must refuse
//     while the repeat is due), run_training (> 60 s again) and log_result; apply_patch, commit,
//     run_training, log_result, the new keep's confirmation run and its log_result (again as
//     `Next:` says), status, and ends the turn;
//  5. asserts results.tsv (each commit kept twice, the second row `[run 2: mean …]`), the run log
//     (.git/autoresearch/runs.jsonl), git, every tool answer, the baseline runs' durations, and
//     log_result's `due` and `decision` and status's best and noise from the structuredContent
//     (opencode shows the model only the text, so scripts/mcp-tap.mjs, wrapped around the server in
//     opencode.json, records them); prints PASS/FAIL.
//
// opencode runs with its own HOME and XDG dirs under the temp dir, with the provider in that
// HOME's global config, and with updates, models.dev, LSP downloads and sharing turned off: it
// touches neither the user's config nor the network, except the npm registry (the install here,
// and opencode's own install of @opencode-ai/plugin into <ws>/.opencode/, which may fail harmlessly).
//
//   node scripts/e2e-opencode.mjs [--opencode-version V] [--mcp-timeout MS|none] [--sleep S]
//                                 [--limit S] [--offline] [--no-tap] [--keep] [--verbose]
// --mcp-timeout none removes "timeout" from the mcp entry: the long call must then live on
// opencode resetting its 60 s timer on progress. --offline points opencode's npm at a dead
// registry (after the install), as on a machine without network. --no-tap: the server as `init`
// registered it (then the structuredContent checks are skipped). The baseline runs twice, so its
// sleep counts twice. Env: OPENCODE_VERSION.

import { parseArgs } from "node:util";
import { children, killChildren, killGroup, leftovers, run } from "./procs.mjs";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeLlm, oneLine } from "./fake-llm.mjs";
import { EXPERIMENT, TAG, checkNoise, checkRows, dueOf, experimentPatch, measured, tapAnswers } from "./e2e-lib.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(REPO, "dist", "cli.js");
const EXAMPLE = path.join(REPO, "examples", "tiny-lm");
const SKILL = path.join(REPO, "skills", "autoresearch", "SKILL.md");
const TAP = path.join(REPO, "scripts", "mcp-tap.mjs");
const CACHE = path.join(os.tmpdir(), "autoresearch-e2e");
const PROVIDER = "fake";
const MODEL = "scripted";

// ---------------------------------------------------------------------------------------------
// Arguments

function usage(msg) {
  console.error(`e2e-opencode: ${msg}\nusage: node scripts/e2e-opencode.mjs [--opencode-version V] [--mcp-timeout MS|none] [--sleep S] [--limit S] [--offline] [--no-tap] [--keep] [--verbose]`);
  process.exit(2);
}
let args;
try {
  args = parseArgs({
    options: {
      keep: { type: "boolean" },
      offline: { type: "boolean" },
      "no-tap": { type: "boolean" },
      verbose: { type: "boolean" },
      "opencode-version": { type: "string" },
      "mcp-timeout": { type: "string" },
      sleep: { type: "string" },
      limit: { type: "string" },
    },
  }).values;
} catch (e) {
  usage(e.message);
}
const keep = !!args.keep;
const offline = !!args.offline;
const tap = !args["no-tap"];
const verbose = !!args.verbose;
const wantedVersion = args["opencode-version"] ?? process.env.OPENCODE_VERSION;
const mcpTimeoutArg = args["mcp-timeout"];
const sleepSeconds = Number(args.sleep ?? 65);
const limitSeconds = Number(args.limit ?? 2 * sleepSeconds + 410); // the baseline runs twice (its repeat sleeps too)
if (!(sleepSeconds > 60)) usage("--sleep must be more than 60 (the point is a call that outlasts opencode's 60 s default)");
if (mcpTimeoutArg !== undefined && mcpTimeoutArg !== "none" && !(Number(mcpTimeoutArg) > 0)) usage("--mcp-timeout takes milliseconds or none");

// ---------------------------------------------------------------------------------------------
// Reporting

const T0 = Date.now();
const checks = [];
const notes = [];
const timings = [];
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const stamp = () => `[${secs(Date.now() - T0).padStart(7)}]`;
let interrupted = false;
const say = (line) => interrupted || console.log(`${stamp()} ${line}`);
function check(name, ok, detail = "") {
  if (interrupted) return false;
  checks.push({ name, ok: !!ok, detail });
  console.log(`${stamp()} ${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
  return !!ok;
}
const note = (line) => {
  notes.push(line);
  say(`note: ${line}`);
};
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/\x1b\][^\x07]*\x07/g, "");

function git(ws, ...args) {
  const r = spawnSync("git", args, { cwd: ws, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

// Every child runs in its own process group and is taken down with it on any exit (procs.mjs).
let llm = null;
let tmp = null;
async function cleanup() {
  await killChildren();
  if (llm) await llm.close().catch(() => {});
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(sig, async () => {
    if (interrupted) return;
    interrupted = true;
    console.log(`\n${stamp()} e2e-opencode: ${sig}, stopping opencode and the fake LLM`);
    await cleanup();
    const left = tmp ? await leftovers(path.join(tmp, "ws")) : [];
    for (const p of left) console.log(`left behind: ${p.pid} ${p.cmd}`);
    console.log(`INTERRUPTED e2e:opencode after ${secs(Date.now() - T0)}${tmp ? `; temp dir kept: ${tmp}` : ""}`);
    process.exit(130);
  });

// ---------------------------------------------------------------------------------------------
// opencode, installed on demand

async function installOpencode() {
  let version = wantedVersion;
  if (!version) {
    const v = await run("npm", ["view", "opencode-ai", "version"], { timeoutMs: 60_000 });
    version = v.code === 0 ? v.stdout.trim().split("\n").pop().trim() : "";
    if (!version) {
      // Offline: the newest install already in the cache will do.
      const cached = fs.existsSync(CACHE) ? fs.readdirSync(CACHE).filter((d) => d.startsWith("opencode-")).sort(compareVersions) : [];
      if (!cached.length) throw new Error(`npm view opencode-ai version failed and nothing is cached in ${CACHE}:\n${v.stderr.trim()}`);
      version = cached.pop().slice("opencode-".length);
      note(`npm view failed; using the cached opencode ${version}`);
    }
  }
  const prefix = path.join(CACHE, `opencode-${version}`);
  let bin = findOpencodeBinary(prefix, version);
  if (!bin) {
    say(`installing opencode-ai@${version} into ${prefix} (npm registry)`);
    fs.mkdirSync(prefix, { recursive: true });
    // --ignore-scripts: opencode-ai's postinstall only links the platform package's binary (and
    // falls back to another npm install); we take the binary from the platform package ourselves.
    const r = await run("npm", ["install", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", `opencode-ai@${version}`], { timeoutMs: 600_000 });
    timings.push(["npm install opencode-ai", r.ms]);
    if (r.code !== 0) throw new Error(`npm install opencode-ai@${version} failed (exit ${r.code}):\n${r.stderr.trim()}`);
    bin = findOpencodeBinary(prefix, version);
    if (!bin) throw new Error(`opencode-ai@${version} installed in ${prefix}, but no platform package (${platformPackages().join(", ")}) has a binary that runs here`);
  } else say(`opencode ${version} found in ${prefix}`);
  return { version, ...bin };
}

function platformPackages() {
  const os_ = { darwin: "darwin", linux: "linux", win32: "windows" }[process.platform] ?? process.platform;
  const base = `opencode-${os_}-${process.arch}`;
  return [base, `${base}-baseline`, `${base}-musl`, `${base}-baseline-musl`];
}

function findOpencodeBinary(prefix, version) {
  const exe = process.platform === "win32" ? "opencode.exe" : "opencode";
  for (const pkg of platformPackages()) {
    const file = path.join(prefix, "node_modules", pkg, "bin", exe);
    if (!fs.existsSync(file)) continue;
    const r = spawnSync(file, ["--version"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, HOME: os.tmpdir() } });
    if (r.status === 0 && r.stdout.trim() === version) return { bin: file, pkg };
  }
  return null;
}

function compareVersions(a, b) {
  const pa = a.replace(/^\D+/, "").split(".").map(Number);
  const pb = b.replace(/^\D+/, "").split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] || 0) !== (pb[i] || 0)) return (pa[i] || 0) - (pb[i] || 0);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The workspace

function prepareWorkspace(tmp) {
  const ws = path.join(tmp, "ws");
  const skip = new Set(["__pycache__", ".cache", "results.tsv", "run.log"]);
  fs.cpSync(EXAMPLE, ws, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });

  // The baseline must outlast opencode's 60 s default tool timeout. The knob is part of the
  // committed baseline; the experiment sets it to 0 along with its real change.
  const trainPath = path.join(ws, "train.py");
  let train = fs.readFileSync(trainPath, "utf8");
  const patch = (from, to) => {
    if (train.split(from).length !== 2) throw new Error(`train.py of the example changed: "${from}" does not occur exactly once`);
    train = train.replace(from, to);
  };
  patch("PROBE_BYTES = 512 ", `E2E_SLEEP_SECONDS = ${sleepSeconds}   # e2e only: the baseline outlasts opencode's 60 s tool timeout\nPROBE_BYTES = 512 `);
  patch("t_start = time.time()\n", "time.sleep(E2E_SLEEP_SECONDS)\nt_start = time.time()\n");
  fs.writeFileSync(trainPath, train);
  const cfgPath = path.join(ws, "autoresearch.json");
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
  cfg.budgetSeconds = sleepSeconds + 60; // hard limit 2 × budget: far from the sleep
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + "\n");

  git(ws, "init", "-q");
  git(ws, "config", "user.name", "e2e");
  git(ws, "config", "user.email", "e2e@example.invalid");
  git(ws, "config", "commit.gpgsign", "false");
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", "tiny-lm example with a slow baseline (e2e)");
  return ws;
}

/** `autoresearch-mcp init <ws>`, or the same by hand while init is not built. Returns the mcp entry. */
async function registerServer(ws, tapLog) {
  const r = await run(process.execPath, [CLI, "init", ws], { timeoutMs: 60_000 });
  const out = `${r.stdout}${r.stderr}`.trim();
  if (r.code === 0) {
    say(`autoresearch-mcp init:\n${out.replace(/^/gm, "    ")}`);
  } else if (/not built yet|unknown command/i.test(out)) {
    note(`init is not available (${oneLine(out, 120)}); wrote opencode.json and the skill by hand`);
    const target = path.join(ws, ".opencode", "skills", "autoresearch", "SKILL.md");
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(SKILL, target);
    const conf = { $schema: "https://opencode.ai/config.json", mcp: { autoresearch: { type: "local", command: [process.execPath, CLI, "serve"], enabled: true, timeout: 900_000 } } };
    fs.writeFileSync(path.join(ws, "opencode.json"), JSON.stringify(conf, null, 2) + "\n");
  } else {
    throw new Error(`autoresearch-mcp init failed (exit ${r.code}):\n${out}`);
  }
  const confPath = path.join(ws, "opencode.json");
  const conf = JSON.parse(fs.readFileSync(confPath, "utf8"));
  const entry = conf.mcp?.autoresearch;
  check(
    "opencode.json registers the server",
    entry?.type === "local" && entry.enabled === true && Array.isArray(entry.command) && entry.command.at(-2) === CLI && entry.command.at(-1) === "serve",
    JSON.stringify(entry),
  );
  if (mcpTimeoutArg !== undefined) {
    if (mcpTimeoutArg === "none") delete entry.timeout;
    else entry.timeout = Number(mcpTimeoutArg);
    fs.writeFileSync(confPath, JSON.stringify(conf, null, 2) + "\n");
    say(`mcp entry timeout: ${mcpTimeoutArg === "none" ? "removed (opencode's default 60 s, reset by progress)" : `${mcpTimeoutArg} ms`}`);
  }
  if (tapLog) {
    // The tap logs the JSON-RPC traffic (opencode shows the model the text, not the structuredContent).
    entry.command = [process.execPath, TAP, tapLog, ...entry.command];
    fs.writeFileSync(confPath, JSON.stringify(conf, null, 2) + "\n");
  }
  // What init wrote is untracked; start_session refuses a dirty tree, so commit it as a user would.
  const dirty = git(ws, "status", "--porcelain", "--untracked-files=all");
  if (dirty) {
    note(`init leaves ${dirty.split("\n").length} untracked files (${dirty.split("\n").map((l) => l.slice(3)).join(", ")}); start_session refuses a dirty tree, so they are committed before the session`);
    git(ws, "add", "-A");
    git(ws, "commit", "-q", "-m", "register autoresearch for opencode (autoresearch-mcp init)");
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  say(`e2e-opencode: node ${process.version}, repo ${REPO}`);
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const python = spawnSync("python3", ["--version"], { encoding: "utf8" });
  if (python.status !== 0) throw new Error("python3 is needed to run the example's train.py");

  const oc = await installOpencode();
  say(`opencode ${oc.version}: ${oc.bin} (from the registry package ${oc.pkg})`);

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-opencode-"));
  const home = path.join(tmp, "home");
  const ws = prepareWorkspace(tmp);
  say(`workspace ${ws}`);
  const tapLog = tap ? path.join(tmp, "mcp-tap.jsonl") : null;
  const entry = await registerServer(ws, tapLog);
  const base = git(ws, "rev-parse", "HEAD");

  // The scripted model. Its port goes into opencode's global config in the isolated HOME, so the
  // workspace's opencode.json stays as init wrote it.
  // opencode's own skill tool needs ripgrep (it would try to download it): load the skill through
  // it only where rg is on PATH. The MCP tools need no rg.
  const hasRg = spawnSync("rg", ["--version"], { encoding: "utf8" }).status === 0;
  if (!hasRg) note("ripgrep (rg) is not on PATH: skipping opencode's skill tool (it needs rg, e.g. the Debian package ripgrep); the MCP tools do not");
  // The noise-aware rule (the default): each log_result whose answer asks for the commit again
  // (the baseline's repeat, the experiment's confirmation) is followed by run_training and
  // log_result once more; while the baseline's repeat is due, apply_patch must be refused.
  const mcp = (tool) => `autoresearch_${tool}`;
  const patch = experimentPatch(sleepSeconds);
  const commitRuns = measured({ mcp, probe: { tool: mcp("apply_patch"), args: patch, expect: "refused-due", label: "before the baseline's repeat" } });
  const steps = [
    ...(hasRg ? [{ tool: "skill", args: { name: "autoresearch" } }] : []),
    { tool: mcp("start_session"), args: { tag: TAG } },
    ...commitRuns("baseline", "baseline"),
    { tool: mcp("apply_patch"), args: patch },
    { tool: mcp("commit"), args: { description: EXPERIMENT } },
    ...commitRuns("experiment", EXPERIMENT),
    { tool: mcp("status"), args: { rows: 10 }, label: "final" },
  ];
  const finalText = "Finished the scripted autoresearch session: baseline and one experiment logged.";
  llm = await startFakeLlm({ steps, finalText, model: MODEL, log: (l) => say(l) });
  say(`fake LLM at ${llm.baseURL}`);

  const xdg = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
  };
  fs.mkdirSync(path.join(xdg.XDG_CONFIG_HOME, "opencode"), { recursive: true });
  const globalConfig = {
    $schema: "https://opencode.ai/config.json",
    autoupdate: false,
    share: "disabled",
    model: `${PROVIDER}/${MODEL}`,
    small_model: `${PROVIDER}/${MODEL}`,
    enabled_providers: [PROVIDER],
    provider: {
      [PROVIDER]: {
        npm: "@ai-sdk/openai-compatible",
        name: "Scripted e2e model",
        options: { baseURL: llm.baseURL, apiKey: "not-needed" },
        models: { [MODEL]: { name: "Scripted", tool_call: true, limit: { context: 200_000, output: 8_192 } } },
      },
    },
  };
  fs.writeFileSync(path.join(xdg.XDG_CONFIG_HOME, "opencode", "opencode.json"), JSON.stringify(globalConfig, null, 2) + "\n");

  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(OPENCODE_|XDG_)|_API_KEY$/.test(k)) env[k] = v;
  Object.assign(env, xdg, {
    // opencode takes its directory from $PWD, not from the process's cwd.
    PWD: ws,
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_SHARE: "1",
  });
  if (offline) {
    // Nothing answers here: every npm registry request opencode makes fails at once.
    env.npm_config_registry = "http://127.0.0.1:9/";
    env.NPM_CONFIG_REGISTRY = env.npm_config_registry;
    say("offline: opencode's npm registry is http://127.0.0.1:9/ (nothing listens there)");
  }

  // opencode mcp list
  const mcpList = await run(oc.bin, ["mcp", "list"], { cwd: ws, env, timeoutMs: 120_000 });
  timings.push(["opencode mcp list", mcpList.ms]);
  const mcpOut = stripAnsi(`${mcpList.stdout}\n${mcpList.stderr}`);
  check("opencode mcp list: autoresearch connected", mcpList.code === 0 && /autoresearch\s+connected/.test(mcpOut), oneLine(mcpOut.split("\n").filter((l) => /autoresearch/.test(l)).join(" | "), 200) || oneLine(mcpOut, 300));

  // opencode debug skill
  const sk = await run(oc.bin, ["debug", "skill"], { cwd: ws, env, timeoutMs: 120_000 });
  timings.push(["opencode debug skill", sk.ms]);
  let skills = [];
  try {
    skills = JSON.parse(sk.stdout);
  } catch {}
  const ours = Array.isArray(skills) ? skills.find((s) => s.name === "autoresearch") : undefined;
  check(
    "opencode debug skill: autoresearch listed",
    sk.code === 0 && ours && ours.location?.startsWith(ws),
    ours ? `${path.relative(ws, ours.location)} (${skills.length} skills: ${skills.map((s) => s.name).join(", ")})` : oneLine(stripAnsi(sk.stdout + sk.stderr), 300),
  );

  // opencode run
  const eventsPath = path.join(tmp, "opencode-events.jsonl");
  const logPath = path.join(tmp, "opencode.log");
  const prompt = `Run autoresearch in this workspace with the tag "${TAG}": set up, run the baseline, then experiment.`;
  const args = ["run", "--print-logs", "--log-level", "INFO", "--format", "json", "--model", `${PROVIDER}/${MODEL}`, prompt];
  say(`opencode ${args.slice(0, -1).join(" ")} "${prompt}"`);
  const events = [];
  const runStarted = Date.now();
  const result = await new Promise((resolve) => {
    const child = spawn(oc.bin, args, { cwd: ws, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    children.add(child);
    const log = fs.createWriteStream(logPath);
    const evs = fs.createWriteStream(eventsPath);
    let buf = "";
    child.stdout.on("data", (d) => {
      evs.write(d);
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let ev;
        try {
          ev = JSON.parse(line);
        } catch {
          continue;
        }
        events.push(ev);
        if (ev.type === "tool_use") say(`opencode: ${ev.part?.tool} ${ev.part?.state?.status}: ${oneLine(ev.part?.state?.output ?? ev.part?.state?.error, 140)}`);
        else if (ev.type === "text") say(`opencode: text: ${oneLine(ev.part?.text, 140)}`);
        else if (ev.type === "error") say(`opencode: error: ${oneLine(JSON.stringify(ev.error), 300)}`);
      }
    });
    child.stderr.on("data", (d) => {
      log.write(d);
      if (verbose) process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      say(`opencode run passed ${limitSeconds} s: killing it`);
      killGroup(child, "SIGKILL");
    }, limitSeconds * 1000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      log.end();
      evs.end();
      resolve({ code, signal, ms: Date.now() - runStarted });
    });
  });
  timings.push(["opencode run", result.ms]);
  check("opencode run exits 0", result.code === 0, `exit ${result.code ?? result.signal} after ${secs(result.ms)}`);

  // What the model was told, tool by tool.
  const toolEvents = events.filter((e) => e.type === "tool_use").map((e) => e.part);
  for (const c of llm.calls) {
    const ev = toolEvents.find((p) => p.callID === c.id);
    const out = c.result ?? "";
    const name = `${c.step.label ? `${c.step.label}: ` : ""}${c.tool} ${JSON.stringify(c.args).slice(0, 60)}`;
    const detail = c.result === null ? "no result reached the model" : `${secs(c.ms)}, ${ev?.state?.status ?? "no tool event"}: ${oneLine(out, 150)}`;
    if (c.step.expect === "refused-due") {
      // opencode marks a refusal (an isError result) as a tool error and shows the model its text.
      check(`${name} is refused (repeat due)`, c.result !== null && ev?.state?.status === "error" && /^Refused: The baseline [0-9a-f]{7} has 1 of 2 runs\b/m.test(out) && /^Next: Run it again first: run_training\b/m.test(out), detail);
      continue;
    }
    const ok = c.result !== null && ev?.state?.status === "completed" && !/^(Refused:|MCP error)/.test(out) && (c.tool !== "skill" || out.includes("# Autoresearch"));
    check(name, ok, detail);
  }
  const finalSeen = events.some((e) => e.type === "text" && e.part?.text === finalText);
  check("the turn ends with the model's final text", llm.finalSentAt !== null && finalSeen);
  const errors = events.filter((e) => e.type === "error");
  check("opencode reports no errors", errors.length === 0, errors.map((e) => oneLine(JSON.stringify(e.error), 200)).join("; "));

  // The long calls: the baseline and its repeat (the same code, so the same sleep).
  for (const [run, name] of [
    [1, "the baseline run_training call lasted more than 60 s and succeeded"],
    [2, "the baseline's repeat run_training call lasted more than 60 s and succeeded"],
  ]) {
    const baseline = llm.calls.find((c) => c.step.role === "run" && c.step.what === "baseline" && c.step.run === run);
    const baselineEv = baseline && toolEvents.find((p) => p.callID === baseline.id);
    const evMs = baselineEv?.state?.time ? baselineEv.state.time.end - baselineEv.state.time.start : null;
    check(
      name,
      !!baseline && baseline.ms !== null && baseline.ms > 60_000 && /\(exit 0\)/.test(baseline.result ?? "") && /\d\.\d{4}/.test(baseline.result ?? ""),
      !baseline
        ? "never called"
        : `${baseline.ms === null ? "no result" : secs(baseline.ms)} between the tool call and its result at the model (opencode's own tool time: ${evMs === null ? "?" : secs(evMs)}; mcp timeout ${entry.timeout === undefined || mcpTimeoutArg === "none" ? "unset" : `${mcpTimeoutArg ?? entry.timeout} ms`})`,
    );
  }

  // results.tsv and the run log
  const { head } = checkRows({ check, say }, ws, base, { sleepSeconds });

  // What the model read from log_result (the text: its Next: line) and what the server answered
  // (the structuredContent, through the tap).
  const logCalls = llm.calls.filter((c) => c.step.role === "log");
  const read = logCalls.map((c) => dueOf(c.result) ?? "none");
  check("the model reads a repeat as due from log_result's Next: after the first baseline and the experiment, not after their repeats", read.join(",") === "run_training,none,run_training,none", read.join(", "));
  if (tapLog) checkNoise({ check }, tapAnswers(tapLog, "log_result"), tapAnswers(tapLog, "status").at(-1), { base, head });
  else note("--no-tap: log_result's due and decision and status's best and noise (structuredContent) are not checked");

  // git
  const branch = git(ws, "rev-parse", "--abbrev-ref", "HEAD");
  check(`branch autoresearch/${TAG}`, branch === `autoresearch/${TAG}`, branch);
  const subject = git(ws, "log", "-1", "--format=%s");
  check("commit message", subject === `${TAG}: ${EXPERIMENT}`, subject);
  const count = git(ws, "rev-list", "--count", `${base}..HEAD`);
  const changed = git(ws, "diff", "--name-only", base, "HEAD");
  check("one commit on the base, touching train.py only", count === "1" && changed === "train.py", `${count} commit(s), changed: ${changed || "nothing"}`);
  check("HEAD's train.py has ORDER = 5", /^ORDER = 5\b/m.test(git(ws, "show", "HEAD:train.py")));
  const status = git(ws, "status", "--porcelain", "--untracked-files=all");
  check("clean work tree (results.tsv and run.log git-excluded)", status === "" && git(ws, "ls-files", "results.tsv", "run.log") === "", status);

  // What opencode itself left in the workspace (git-ignored, so the server does not mind).
  const ignored = git(ws, "status", "--porcelain", "--ignored", "--untracked-files=normal")
    .split("\n")
    .filter((l) => l.startsWith("!! "))
    .map((l) => l.slice(3))
    .filter((p) => !["results.tsv", "run.log", "__pycache__/"].includes(p));
  if (ignored.length) note(`opencode wrote git-ignored files into the workspace: ${ignored.join(", ")}`);
  // opencode's own warnings and errors.
  const seen = new Set();
  for (const line of fs.readFileSync(logPath, "utf8").split("\n")) {
    const m = /level=(WARN|ERROR) .*?message=("[^"]*"|\S+)(.*)$/.exec(line);
    if (!m || seen.has(m[2])) continue;
    seen.add(m[2]);
    note(`opencode log ${m[1]}: ${oneLine(m[2] + m[3], 220)}`);
  }

  // Processes: opencode closes the server's stdin on exit; nothing of ours may stay behind.
  const left = await leftovers(ws);
  check("no process left on the workspace (server, training)", left.length === 0, left.map((p) => `${p.pid} ${oneLine(p.cmd, 100)}`).join("; "));
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }

  return { ws, oc };
}


let outcome = null;
let fatal = null;
try {
  outcome = await main();
} catch (e) {
  fatal = e;
  check("e2e ran to the end", false, e instanceof Error ? e.message : String(e));
}
// Interrupted: the signal handler reports and exits.
if (interrupted) await new Promise(() => {});
await cleanup();

const failed = checks.filter((c) => !c.ok);
console.log("\n---");
if (outcome) console.log(`opencode ${outcome.oc.version} (${outcome.oc.pkg}); node ${process.version}`);
for (const [what, ms] of timings) console.log(`${what.padEnd(56)} ${secs(ms)}`);
if (llm) for (const c of llm.calls) console.log(`${`${c.tool}${c.step.label ? ` (${c.step.label})` : ""}`.padEnd(56)} ${c.ms === null ? "-" : secs(c.ms)}`);
for (const n of notes) console.log(`note: ${n}`);
if (outcome) {
  if (failed.length || keep) console.log(`workspace kept: ${outcome.ws} (opencode log: ${path.join(tmp, "opencode.log")}, events: ${path.join(tmp, "opencode-events.jsonl")}${tap ? `, MCP tap: ${path.join(tmp, "mcp-tap.jsonl")}` : ""})`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${failed.length ? "FAIL" : "PASS"} e2e:opencode — ${checks.length - failed.length}/${checks.length} checks in ${secs(Date.now() - T0)}`);
for (const c of failed) console.log(`  failed: ${c.name}${c.detail ? `: ${oneLine(c.detail, 300)}` : ""}`);
if (!outcome && tmp) console.log(`temp dir kept: ${tmp}`);
if (fatal && verbose) console.error(fatal);
process.exit(failed.length ? 1 : 0);
