import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

/**
 * `autoresearch-mcp demo`: the whole loop on the built-in example, driven through the real
 * server over stdio by a scripted agent. The agent's "ideas" come from examples/tiny-lm/
 * experiments.json; the demo adds the two things a real agent gets refused for (editing
 * prepare.py behind the server's back, importing a new dependency).
 */

const EXAMPLE = fileURLToPath(new URL("../examples/tiny-lm/", import.meta.url));
const CLI = fileURLToPath(new URL("./cli.js", import.meta.url));

interface Experiment {
  description: string;
  edits: { old: string; new: string }[];
  expect: "keep" | "discard" | "crash";
  fixOf?: number;
}

export interface DemoOptions {
  keep?: string;
  budgetSeconds?: number;
  experiments?: number;
  /** where the demo prints (tests capture it) */
  out?: (s: string) => void;
  tag?: string;
}

export interface DemoResult {
  workspace: string;
  lines: string[];
  mismatches: string[];
  refusals: string[];
}

type Structured = Record<string, any>;

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  // The progress bar redraws one line: only on a terminal.
  const tty = !opts.out && process.stdout.isTTY === true;
  const say = (s = "") => out(s + "\n");
  if (opts.budgetSeconds !== undefined && !(opts.budgetSeconds > 0)) throw new Error("--budget must be a positive number of seconds");
  if (opts.experiments !== undefined && !(Number.isInteger(opts.experiments) && opts.experiments >= 0)) throw new Error("--experiments must be a whole number ≥ 0");
  const ws = prepareWorkspace(opts);
  const plan = (JSON.parse(fs.readFileSync(path.join(EXAMPLE, "experiments.json"), "utf8")) as Experiment[]).slice(0, opts.experiments ?? Infinity);
  say(`autoresearch-mcp demo: the example workspace is ${ws}`);
  say(`A scripted agent drives the real server over stdio: baseline + ${plan.length} experiments.\n`);

  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, "serve", "--workspace", ws], stderr: "pipe", env: { ...(process.env as Record<string, string>), AUTORESEARCH_PROGRESS_MS: "1000" } });
  let serverErr = "";
  transport.stderr?.on("data", (d) => (serverErr += d));
  const client = new Client({ name: "autoresearch-demo", version: "1.0.0" });
  await client.connect(transport);
  const lines: string[] = [];
  const mismatches: string[] = [];
  const refusals: string[] = [];

  const tool = async (name: string, args: Record<string, unknown> = {}, progress = false): Promise<{ ok: boolean; data: Structured; text: string }> => {
    let bar = false;
    const r = await client.callTool({ name, arguments: args }, undefined, {
      timeout: 120_000,
      resetTimeoutOnProgress: true,
      // Progress is always asked for, so run_training waits for the whole run (without a progress
      // token the server answers "running" after 50 s); the bar is drawn only on a terminal.
      onprogress: (p) => {
        if (!progress || !tty) return;
        bar = true;
        out(`\r${progressBar(p.progress, p.total ?? 0, p.message ?? "")}`);
      },
    });
    if (bar) out("\r\x1b[2K");
    const text = (r.content as { type: string; text: string }[]).map((c) => c.text).join("\n");
    return { ok: !r.isError, data: (r.structuredContent ?? {}) as Structured, text };
  };
  const must = async (name: string, args: Record<string, unknown> = {}, progress = false) => {
    const r = await tool(name, args, progress);
    if (!r.ok) throw new Error(`${name} failed unexpectedly: ${r.text}\n${serverErr.slice(-2000)}`);
    return r.data;
  };
  const experiment = async (description: string, expect: string | null) => {
    if (description !== "baseline") await must("commit", { description });
    let run = await must("run_training", {}, true);
    let logged = await must("log_result", { description });
    say(logged.line);
    lines.push(logged.line);
    if (run.crashed) say(`      crash: ${run.reason}`);
    // The noise-aware rule asks for the baseline's repeat and each new keep's confirmation.
    while (logged.due === "run_training") {
      run = await must("run_training", {}, true);
      logged = await must("log_result", { description });
      say(logged.line);
      lines.push(logged.line);
      if (logged.decision?.revoked) say(`      revoked: the branch went back to ${logged.decision.resetTo}`);
    }
    if (expect && logged.row.status !== expect) mismatches.push(`${description}: expected ${expect}, got ${logged.row.status}`);
    return logged.row.status as string;
  };

  try {
    const s = await must("start_session", { tag: opts.tag ?? "demo" });
    say(`start_session: branch ${s.branch}, base ${s.base}`);
    say(`baseline run (budget ${readBudget(ws)} s)...`);
    await experiment("baseline", "keep");

    let status = "keep";
    for (let i = 0; i < plan.length; i++) {
      const e = plan[i];
      if (status !== "keep" && e.fixOf === undefined) await must("reset_to_best");
      if (i === 1) await showRefusedReadonlyEdit(ws, tool, say, refusals);
      if (i === 3) await showRefusedImport(tool, say, refusals);
      const patched = await tool("apply_patch", { edits: e.edits });
      if (!patched.ok) throw new Error(`the plan's edit did not apply: ${patched.text}`);
      status = await experiment(e.description, e.expect);
    }
    if (status !== "keep") await must("reset_to_best");

    const st = await must("status", { rows: 0 });
    say("\n=== Final summary ===");
    say(`1. Total runs: ${st.counts.total} (${st.counts.keep} keep, ${st.counts.discard} discard, ${st.counts.crash} crash)`);
    const mean = st.best?.n !== undefined ? `, mean of ${st.best.n} run${st.best.n === 1 ? "" : "s"}${st.best.stderr != null ? ` ± ${st.best.stderr.toFixed(6)}` : ""}; σ ${st.noise?.sigma?.toFixed(6) ?? "n/a"}` : "";
    say(`2. Best: commit ${st.best?.commit} with val_bpb ${st.best?.metric.toFixed(6)}${mean} (baseline ${st.baseline?.metric.toFixed(6)}, ${st.improvement?.toFixed(6)} better)`);
    say("3. Trajectory:");
    for (const t of st.trajectory as { commit: string; metric: number; description: string }[]) say(`   - ${t.commit} ${t.metric.toFixed(6)}  ${t.description}`);
    say("4. Next ideas: tune per-order discounts one at a time; interpolate with a word-level model; cache counts across orders to consume more data.");
    try {
      const { writeReport } = await import("./report/report.js");
      const r = await writeReport(ws);
      say(`\nReport: ${r.markdown} and ${r.svg}`);
    } catch (e) {
      say(`\n(report not written: ${(e as Error).message})`);
    }
    if (mismatches.length) say(`\nNote: results differed from the plan: ${mismatches.join("; ")}`);
    say(`\nLook at it yourself:\n  cd ${ws}\n  cat results.tsv\n  git log --oneline autoresearch/${opts.tag ?? "demo"}`);
  } finally {
    await client.close();
  }
  return { workspace: ws, lines, mismatches, refusals };
}

/** An agent with its own file tool edits prepare.py: the server refuses the commit. */
async function showRefusedReadonlyEdit(ws: string, tool: (n: string, a?: Record<string, unknown>) => Promise<{ ok: boolean; text: string }>, say: (s: string) => void, refusals: string[]) {
  const file = path.join(ws, "prepare.py");
  const original = fs.readFileSync(file);
  fs.appendFileSync(file, "\n# the agent tries to make validation easier\n");
  await tool("apply_patch", { edits: [{ old: "ORDER = ", new: "ORDER =  " }] }).catch(() => undefined);
  const r = await tool("commit", { description: "edit prepare.py too" });
  if (r.ok) throw new Error("the server accepted a commit with prepare.py changed");
  refusals.push(r.text);
  say(`(agent edits prepare.py behind the server's back) -> ${firstLine(r.text)}`);
  fs.writeFileSync(file, original);
  execFileSync("git", ["checkout", "--", "train.py"], { cwd: ws });
}

/** A new dependency: refused at apply_patch, the file stays as it was. */
async function showRefusedImport(tool: (n: string, a?: Record<string, unknown>) => Promise<{ ok: boolean; text: string }>, say: (s: string) => void, refusals: string[]) {
  const r = await tool("apply_patch", { edits: [{ old: "import math\n", new: "import math\nimport numpy as np\n" }] });
  if (r.ok) throw new Error("the server accepted a new import");
  refusals.push(r.text);
  say(`(agent adds "import numpy") -> ${firstLine(r.text)}`);
}

const firstLine = (s: string) => s.split("\n")[0];

function progressBar(progress: number, total: number, message: string): string {
  const width = 24;
  const frac = total > 0 ? Math.min(1, progress / total) : 0;
  const fill = Math.round(frac * width);
  const detail = message.replace(/^elapsed [^|]*\|?\s*/, "").slice(0, 60);
  return `  [${"#".repeat(fill)}${".".repeat(width - fill)}] ${progress.toFixed(0)}s ${detail}`.padEnd(100);
}

function readBudget(ws: string): number {
  return (JSON.parse(fs.readFileSync(path.join(ws, "autoresearch.json"), "utf8")) as { budgetSeconds: number }).budgetSeconds;
}

/** Copies the example into a new git repository (never over existing files). */
function prepareWorkspace(opts: DemoOptions): string {
  let ws: string;
  if (opts.keep) {
    ws = path.resolve(opts.keep);
    if (fs.existsSync(ws) && fs.readdirSync(ws).length > 0) throw new Error(`--keep ${opts.keep}: the directory exists and is not empty; give a new or empty directory`);
    fs.mkdirSync(ws, { recursive: true });
  } else ws = fs.mkdtempSync(path.join(os.tmpdir(), "autoresearch-demo-"));
  for (const name of fs.readdirSync(EXAMPLE)) {
    if (name === "experiments.json" || name === "__pycache__" || name === ".cache") continue;
    fs.cpSync(path.join(EXAMPLE, name), path.join(ws, name), { recursive: true });
  }
  if (opts.budgetSeconds !== undefined) {
    const cfgPath = path.join(ws, "autoresearch.json");
    const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
    cfg.budgetSeconds = opts.budgetSeconds;
    fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + "\n");
  }
  const git = (...args: string[]) => execFileSync("git", args, { cwd: ws, stdio: ["ignore", "ignore", "pipe"] });
  git("init", "-q");
  git("symbolic-ref", "HEAD", "refs/heads/master");
  git("config", "user.name", "autoresearch demo");
  git("config", "user.email", "demo@autoresearch.invalid");
  git("add", "-A");
  git("commit", "-q", "-m", "tiny-lm example");
  return ws;
}
