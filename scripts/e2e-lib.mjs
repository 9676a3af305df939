// What the end-to-end tests of Claude Code (e2e-claude.mjs) and Codex (e2e-codex.mjs) share: the
// report, the install of a client from the npm registry into <tmpdir>/autoresearch-e2e (never a
// dependency of this package), the workspace, the scripted loop with its tamper, the MCP tap's
// log, and the checks on results.tsv, git and leftover processes.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { oneLine } from "./fake-llm.mjs";
import { children, killChildren, killGroup, leftovers, run } from "./procs.mjs";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = path.join(REPO, "dist", "cli.js");
export const TAP = path.join(REPO, "scripts", "mcp-tap.mjs");
export const EXAMPLE = path.join(REPO, "examples", "tiny-lm");
export const CACHE = path.join(os.tmpdir(), "autoresearch-e2e");
export const TAG = "e2e";
export const EXPERIMENT = "raise ORDER from 3 to 5 bytes of context";
export const TAMPER = "echo '# tampered behind the server' >> prepare.py";
export const UNDO = "git checkout -- prepare.py && git status --porcelain";
export const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
export { oneLine };

// ---------------------------------------------------------------------------------------------
// Reporting

export function reporter(label) {
  const T0 = Date.now();
  const r = {
    label,
    T0,
    checks: [],
    notes: [],
    timings: [],
    interrupted: false,
    stamp: () => `[${secs(Date.now() - T0).padStart(7)}]`,
    say: (line) => r.interrupted || console.log(`${r.stamp()} ${line}`),
    check(name, ok, detail = "") {
      if (r.interrupted) return false;
      r.checks.push({ name, ok: !!ok, detail });
      console.log(`${r.stamp()} ${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
      return !!ok;
    },
    note(line) {
      r.notes.push(line);
      r.say(`note: ${line}`);
    },
  };
  return r;
}

/** SIGINT/SIGTERM/SIGHUP: stop every child, list what is left on the workspace, exit 130. */
export function onSignals(r, state) {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
    process.on(sig, async () => {
      if (r.interrupted) return;
      r.interrupted = true;
      console.log(`\n${r.stamp()} e2e:${r.label}: ${sig}, stopping the client and the fake model`);
      await cleanup(state);
      const left = state.tmp ? await leftovers(path.join(state.tmp, "ws")) : [];
      for (const p of left) console.log(`left behind: ${p.pid} ${p.cmd}`);
      console.log(`INTERRUPTED e2e:${r.label} after ${secs(Date.now() - r.T0)}${state.tmp ? `; temp dir kept: ${state.tmp}` : ""}`);
      process.exit(130);
    });
}

export async function cleanup(state) {
  await killChildren();
  if (state.llm) await state.llm.close().catch(() => {});
}

/** The last lines: timings, notes, PASS/FAIL; exits. */
export async function finish(r, state, { outcome, fatal, verbose, keep, header = [], files = [] }) {
  if (r.interrupted) await new Promise(() => {});
  await cleanup(state);
  const failed = r.checks.filter((c) => !c.ok);
  console.log("\n---");
  for (const h of header) console.log(h);
  for (const [what, ms] of r.timings) console.log(`${what.padEnd(40)} ${secs(ms)}`);
  if (state.llm) for (const c of state.llm.calls) console.log(`${`${c.tool}${c.repeat ? " (again)" : ""}`.padEnd(40)} ${c.ms === null ? "-" : secs(c.ms)}`);
  for (const n of r.notes) console.log(`note: ${n}`);
  if (outcome) {
    if (failed.length || keep) console.log(`workspace kept: ${outcome.ws}${files.length ? ` (${files.map((f) => path.join(state.tmp, f)).join(", ")})` : ""}`);
    else fs.rmSync(state.tmp, { recursive: true, force: true });
  }
  console.log(`${failed.length ? "FAIL" : "PASS"} e2e:${r.label} — ${r.checks.length - failed.length}/${r.checks.length} checks in ${secs(Date.now() - r.T0)}`);
  for (const c of failed) console.log(`  failed: ${c.name}${c.detail ? `: ${oneLine(c.detail, 300)}` : ""}`);
  if (!outcome && state.tmp) console.log(`temp dir kept: ${state.tmp}`);
  if (fatal && verbose) console.error(fatal);
  process.exit(failed.length ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// The client, installed on demand

/**
 * npm install <pkg>@<version> into CACHE/<dir>-<version> (--ignore-scripts: the binary is taken
 * from the platform package, no postinstall runs); returns the first of `binaries(prefix)` whose
 * `--version` output passes `matches`.
 */
export async function installFromNpm(r, { pkg, version, dir, binaries, matches, env = {} }) {
  const prefix = path.join(CACHE, `${dir}-${version}`);
  const find = () => {
    for (const file of binaries(prefix)) {
      if (!fs.existsSync(file)) continue;
      const v = spawnSync(file, ["--version"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, HOME: os.tmpdir(), ...env } });
      if (v.status === 0 && matches(v.stdout.trim())) return { bin: file, versionLine: v.stdout.trim() };
    }
    return null;
  };
  let found = find();
  if (found) {
    r.say(`${pkg}@${version} found in ${prefix}`);
    return { version, prefix, ...found };
  }
  r.say(`installing ${pkg}@${version} into ${prefix} (npm registry)`);
  fs.mkdirSync(prefix, { recursive: true });
  const res = await run("npm", ["install", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", `${pkg}@${version}`], { timeoutMs: 600_000 });
  r.timings.push([`npm install ${pkg}`, res.ms]);
  if (res.code !== 0) throw new Error(`npm install ${pkg}@${version} failed (exit ${res.code}):\n${res.stderr.trim()}`);
  found = find();
  if (!found) throw new Error(`${pkg}@${version} installed in ${prefix}, but none of ${binaries(prefix).map((b) => path.relative(prefix, b)).join(", ")} runs here`);
  return { version, prefix, ...found };
}

// ---------------------------------------------------------------------------------------------
// The workspace

export function git(ws, ...args) {
  const res = spawnSync("git", args, { cwd: ws, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`git ${args.join(" ")}: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

/**
 * examples/tiny-lm in a fresh git repository under `tmp`, with a knob that makes the baseline sleep
 * `sleepSeconds` first (the experiment sets it to 0); the budget keeps the hard limit far away.
 */
export function prepareWorkspace(tmp, sleepSeconds, why) {
  const ws = path.join(tmp, "ws");
  const skip = new Set(["__pycache__", ".cache", "results.tsv", "run.log"]);
  fs.cpSync(EXAMPLE, ws, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
  const trainPath = path.join(ws, "train.py");
  let train = fs.readFileSync(trainPath, "utf8");
  const patch = (from, to) => {
    if (train.split(from).length !== 2) throw new Error(`train.py of the example changed: "${from}" does not occur exactly once`);
    train = train.replace(from, to);
  };
  patch("PROBE_BYTES = 512 ", `E2E_SLEEP_SECONDS = ${sleepSeconds}   # e2e only: ${why}\nPROBE_BYTES = 512 `);
  patch("t_start = time.time()\n", "time.sleep(E2E_SLEEP_SECONDS)\nt_start = time.time()\n");
  fs.writeFileSync(trainPath, train);
  const cfgPath = path.join(ws, "autoresearch.json");
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
  cfg.budgetSeconds = Math.max(cfg.budgetSeconds, sleepSeconds + 60); // hard limit 2 × budget: far from the sleep
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + "\n");
  git(ws, "init", "-q");
  git(ws, "config", "user.name", "e2e");
  git(ws, "config", "user.email", "e2e@example.invalid");
  git(ws, "config", "commit.gpgsign", "false");
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", `tiny-lm example, baseline sleeps ${sleepSeconds} s (e2e)`);
  return ws;
}

/** `autoresearch-mcp init <ws>`, committed as a user would (start_session needs a clean tree). */
export async function initWorkspace(r, ws) {
  const res = await run(process.execPath, [CLI, "init", ws], { timeoutMs: 60_000 });
  const out = `${res.stdout}${res.stderr}`.trim();
  if (res.code !== 0) throw new Error(`autoresearch-mcp init failed (exit ${res.code}):\n${out}`);
  r.say(`autoresearch-mcp init:\n${out.replace(/^/gm, "    ")}`);
  const dirty = git(ws, "status", "--porcelain", "--untracked-files=all");
  if (dirty) {
    git(ws, "add", "-A");
    git(ws, "commit", "-q", "-m", "autoresearch: agent setup (autoresearch-mcp init)");
  }
  return out;
}

/** The server's command line through the tap, which logs every JSON-RPC message to `tapLog`. */
export function serverCommand(ws, tapLog) {
  return { command: process.execPath, args: [TAP, tapLog, process.execPath, CLI, "serve", "--workspace", ws] };
}

export function readTap(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return null;
      }
    })
    .filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// The script

/** The JSON a client shows the model for a successful MCP result (Codex wraps it in "Output:"). */
export function resultJson(text) {
  if (typeof text !== "string") return null;
  const candidates = [text];
  const i = text.indexOf("Output:\n");
  if (i >= 0) candidates.push(text.slice(i + "Output:\n".length));
  for (const c of candidates) {
    try {
      const v = JSON.parse(c.trim());
      if (v && typeof v === "object") return v;
    } catch {}
  }
  return null;
}

/**
 * The loop: start_session, the baseline (run_training again while it answers "running"),
 * log_result, apply_patch, the tamper (the client's own shell appends to prepare.py), commit
 * (refused), the undo, commit, run_training, log_result. `mcp(tool)` is the client's name of a tool,
 * `shell(cmd)` a step of its shell tool; `poll` adds waitSeconds to every run_training.
 */
export function loopSteps({ mcp, shell, sleepSeconds, poll, pre = [] }) {
  const wait = poll ? { waitSeconds: poll } : {};
  // As a model reading the answers would: wait again while the run is running; after a failed call
  // (a client's timeout) ask again, and the refusal names the run in progress to wait for.
  const again = (c) => {
    const j = resultJson(c.result);
    if (j) return j.state === "running" && typeof j.runId === "string" ? { runId: j.runId, ...wait } : null;
    if (c.repeat >= 8) return null;
    const named = /"runId":"([^"]+)"/.exec(c.result ?? "");
    return named ? { runId: named[1], ...wait } : { ...wait };
  };
  return [
    ...pre,
    { tool: mcp("start_session"), args: { tag: TAG }, expect: "ok" },
    { tool: mcp("run_training"), args: { ...wait }, again, expect: "ok", label: "baseline" },
    { tool: mcp("log_result"), args: { description: "baseline" }, expect: "ok" },
    {
      tool: mcp("apply_patch"),
      args: {
        edits: [
          { old: "ORDER = 3", new: "ORDER = 5" },
          { old: `E2E_SLEEP_SECONDS = ${sleepSeconds}`, new: "E2E_SLEEP_SECONDS = 0" },
        ],
      },
      expect: "ok",
    },
    { ...shell(TAMPER), expect: "shell", label: "tamper" },
    { tool: mcp("commit"), args: { description: EXPERIMENT }, expect: "refused", label: "commit after the tamper" },
    { ...shell(UNDO), expect: "shell", label: "undo" },
    { tool: mcp("commit"), args: { description: EXPERIMENT }, expect: "ok" },
    { tool: mcp("run_training"), args: { ...wait }, again, expect: "ok", label: "experiment" },
    { tool: mcp("log_result"), args: { description: EXPERIMENT }, expect: "ok" },
  ];
}

// ---------------------------------------------------------------------------------------------
// Running the client

/**
 * Starts the client in its own process group, feeds each stdout line (JSONL) to `onEvent`,
 * writes stdout and stderr to files under `tmp`, kills it after `limitSeconds`.
 */
export function runClient(r, { bin, args, cwd, env, limitSeconds, tmp, name, onEvent, verbose }) {
  const eventsPath = path.join(tmp, `${name}-events.jsonl`);
  const logPath = path.join(tmp, `${name}.log`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    children.add(child);
    const log = fs.createWriteStream(logPath);
    const evs = fs.createWriteStream(eventsPath);
    const events = [];
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
          if (verbose) r.say(`${name}: ${oneLine(line, 200)}`);
          continue;
        }
        events.push(ev);
        onEvent?.(ev);
      }
    });
    child.stderr.on("data", (d) => {
      log.write(d);
      if (verbose) process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      r.say(`${name} passed ${limitSeconds} s: killing it`);
      killGroup(child, "SIGKILL");
    }, limitSeconds * 1000);
    child.on("error", (e) => log.write(`spawn error: ${e}\n`));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      log.end();
      evs.end();
      resolve({ code, signal, ms: Date.now() - started, events, logPath, eventsPath });
    });
  });
}

/** An environment without the caller's API keys and XDG dirs, with HOME and XDG under `home`. */
export function isolatedEnv(home, drop = /^(XDG_)|_API_KEY$|^(ANTHROPIC|OPENAI|CLAUDE|CODEX)_/) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!drop.test(k)) env[k] = v;
  const xdg = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
  };
  for (const d of Object.values(xdg)) fs.mkdirSync(d, { recursive: true });
  return Object.assign(env, xdg);
}

// ---------------------------------------------------------------------------------------------
// Checks after the run

/** Every scripted call as the model saw it. `failedCall(c)` says why a client marked it failed. */
export function checkCalls(r, llm, { isError }) {
  llm.calls.forEach((c, i) => {
    const name = `${c.step.label ? `${c.step.label}: ` : ""}${c.tool}${c.repeat ? " (again)" : ""} ${JSON.stringify(c.args).slice(0, 60)}`;
    // A call that was followed by the same step again: its answer asked for that (e.g. "running").
    const retried = llm.calls[i + 1]?.chain === c.chain;
    if (c.result === null) {
      r.check(name, false, c.id === null ? "never called (the turn ended before this step)" : "no result reached the model");
      return;
    }
    const err = isError(c);
    const j = resultJson(c.result);
    const detail = `${secs(c.ms ?? 0)}${err ? " (error)" : ""}: ${oneLine(c.result, 150)}`;
    if (c.step.expect === "ok" && err && retried && /in progress/.test(c.result) && /"runId":"[^"]+"/.test(c.result)) {
      // The way back after a failed call: the refusal names the run to wait for.
      r.check(`${name} is refused with the run to wait for`, true, detail);
    } else if (c.step.expect === "ok") {
      r.check(name, !err && j !== null && typeof j.next === "string" && j.next.length > 0, `${detail}${j && typeof j.next !== "string" ? " [no next in the JSON]" : ""}${!j ? " [not JSON]" : ""}`);
    } else if (c.step.expect === "refused") {
      r.check(`${name} is refused`, /^Refused: Only train\.py may change\b/m.test(c.result) && /prepare\.py/.test(c.result), detail);
    } else if (c.step.expect === "shell") {
      r.check(name, !err, detail);
    } else if (c.step.expect === "toolsearch") {
      r.check(name, retried ? !err : c.step.check(c), `${detail}${retried ? " [tried again]" : ""}`);
    } else r.check(name, !err, detail);
  });
}

/** The runs: the final answer of each run_training chain, and that no call of it failed. */
export function checkRuns(r, llm, { isError, sleepSeconds, minMs = 0, why = "" }) {
  const first = llm.calls.filter((c) => c.step.label === "baseline");
  const last = first.at(-1);
  const j = last ? resultJson(last.result) : null;
  const total = first.reduce((ms, c) => ms + (c.ms ?? 0), 0);
  const failed = first.filter((c) => c.result === null || isError(c) || !resultJson(c.result));
  r.check(
    `the baseline (sleeps ${sleepSeconds} s) finishes with no failed call${why}`,
    last && failed.length === 0 && j?.state === "finished" && j.exitCode === 0 && typeof j.metric === "number" && total >= minMs,
    `${first.length} run_training call(s) over ${secs(total)}${first.length > 1 ? ` (${first.map((c) => secs(c.ms ?? 0)).join(" + ")})` : ""}; last: ${j ? `state ${j.state}, exit ${j.exitCode}, val_bpb ${j.metric}` : oneLine(last?.result, 200)}${failed.length ? `; failed: ${failed.map((c) => oneLine(c.result, 160)).join(" | ")}` : ""}`,
  );
  const exp = llm.calls.filter((c) => c.step.label === "experiment");
  const je = exp.length ? resultJson(exp.at(-1).result) : null;
  r.check("the experiment's run finishes", je?.state === "finished" && je.exitCode === 0 && typeof je.metric === "number", je ? `${exp.length} call(s), val_bpb ${je.metric}` : oneLine(exp.at(-1)?.result, 200));
}

/** results.tsv, git and the processes left on the workspace. */
export async function checkWorkspace(r, ws, base) {
  const resultsPath = path.join(ws, "results.tsv");
  const lines = fs.existsSync(resultsPath) ? fs.readFileSync(resultsPath, "utf8").split("\n").filter((l) => l.length) : [];
  const rows = lines.map((l) => l.split("\t"));
  r.say(`results.tsv:\n${lines.map((l) => `    ${l}`).join("\n")}`);
  const head = git(ws, "rev-parse", "HEAD");
  r.check("results.tsv header", rows[0]?.join("|") === "commit|val_bpb|memory_gb|status|description", rows[0]?.join(" | ") ?? "missing");
  r.check("results.tsv has 2 rows", rows.length === 3, `${Math.max(0, rows.length - 1)} rows`);
  const [, b, x] = rows;
  r.check("row 1: the baseline, keep, at the session base", b && b[3] === "keep" && b[4] === "baseline" && base.startsWith(b[0]), b?.join(" | "));
  r.check("row 2: the experiment, keep, at HEAD", x && x[3] === "keep" && x[4] === EXPERIMENT && head.startsWith(x[0]), x?.join(" | "));
  r.check("ORDER 5 improves val_bpb", b && x && Number(x[1]) < Number(b[1]), b && x ? `${b[1]} -> ${x[1]}` : "");

  const branch = git(ws, "rev-parse", "--abbrev-ref", "HEAD");
  r.check(`branch autoresearch/${TAG}`, branch === `autoresearch/${TAG}`, branch);
  const subject = git(ws, "log", "-1", "--format=%s");
  r.check("commit message", subject === `${TAG}: ${EXPERIMENT}`, subject);
  const count = git(ws, "rev-list", "--count", `${base}..HEAD`);
  const changed = git(ws, "diff", "--name-only", base, "HEAD");
  r.check("one commit on the base, touching train.py only", count === "1" && changed === "train.py", `${count} commit(s), changed: ${changed || "nothing"}`);
  r.check("HEAD's train.py has ORDER = 5", /^ORDER = 5\b/m.test(git(ws, "show", "HEAD:train.py")));
  r.check("prepare.py is as at the base (the tamper was undone)", git(ws, "diff", "--name-only", base, "--", "prepare.py") === "");
  const status = git(ws, "status", "--porcelain", "--untracked-files=all");
  r.check("clean work tree (results.tsv and run.log git-excluded)", status === "" && git(ws, "ls-files", "results.tsv", "run.log") === "", status);
  const ignored = git(ws, "status", "--porcelain", "--ignored", "--untracked-files=normal")
    .split("\n")
    .filter((l) => l.startsWith("!! "))
    .map((l) => l.slice(3))
    .filter((p) => !["results.tsv", "run.log", "__pycache__/"].includes(p));
  if (ignored.length) r.note(`the client wrote git-ignored files into the workspace: ${ignored.join(", ")}`);

  const left = await leftovers(ws);
  r.check("no process left on the workspace (server, training)", left.length === 0, left.map((p) => `${p.pid} ${oneLine(p.cmd, 100)}`).join("; "));
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
}

/** What the tap saw: the client's initialize, progress tokens, cancellations, server starts. */
export function checkTap(r, tapLog, { client }) {
  const recs = readTap(tapLog);
  const starts = recs.filter((x) => x.dir === "start");
  const init = recs.find((x) => x.dir === "in" && x.method === "initialize");
  const calls = recs.filter((x) => x.dir === "in" && x.method === "tools/call");
  // A cancellation counts when it came before the server's answer (opencode cancels answered calls too).
  const answeredAt = (id) => recs.find((x) => x.dir === "out" && x.id === id && (x.result || x.error))?.t ?? Infinity;
  const cancels = recs.filter((x) => x.dir === "in" && x.method === "notifications/cancelled");
  const cancelled = cancels.filter((x) => answeredAt(x.requestId) > x.t);
  if (cancels.length > cancelled.length) r.note(`${client} sent ${cancels.length - cancelled.length} notifications/cancelled for calls already answered`);
  const progress = recs.filter((x) => x.dir === "out" && x.method === "notifications/progress");
  const info = init?.clientInfo;
  r.check(`${client} sends initialize with clientInfo`, !!info?.name, info ? `clientInfo ${JSON.stringify(info)}, protocol ${init.protocolVersion}, capabilities ${JSON.stringify(init.capabilities)}` : "no initialize seen");
  if (starts.length) r.say(`server started ${starts.length} time(s); first in ${starts[0].cwd} with env ${starts[0].envNames.join(",")}`);
  const tokens = calls.filter((c) => c.progressToken !== null && c.progressToken !== undefined).length;
  r.say(`tools/call: ${calls.length} (${tokens} with a progressToken); progress notifications sent: ${progress.length}; cancellations: ${cancelled.length}`);
  r.check("no tools/call was cancelled by the client", cancelled.length === 0, cancelled.map((c) => `request ${c.requestId}: ${c.reason ?? ""}`).join("; "));
  return { info, starts, calls, cancelled, tokens, progress };
}
