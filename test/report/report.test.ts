import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { renderMarkdown } from "../../src/report/markdown.js";
import { writeReport } from "../../src/report/report.js";
import { renderSvg } from "../../src/report/svg.js";
import { parseResults, readResults, type ResultRow } from "../../src/results.js";
import { addWorktree, git, makeWorkspace, porcelain, read, removeWorkspaces, write } from "../helpers/workspace.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
const karpathy = readResults(path.join(FIXTURES, "results-karpathy.tsv"));
const handEdited = readResults(path.join(FIXTURES, "results-handedited.tsv"));
const MIN = { metric: "val_bpb", goal: "min" as const };

const scratch: string[] = [];
afterEach(() => {
  removeWorkspaces();
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Well-formed XML, checked by a real parser (node has no DOMParser). */
function assertWellFormed(svg: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arsvg-"));
  scratch.push(dir);
  const file = path.join(dir, "progress.svg");
  fs.writeFileSync(file, svg);
  execFileSync("python3", ["-c", "import sys,xml.dom.minidom; d=xml.dom.minidom.parse(sys.argv[1]); assert d.documentElement.tagName=='svg'", file], { stdio: "pipe" });
}

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;
const section = (md: string, title: string) => md.split(`## ${title}\n`)[1]?.split("\n## ")[0] ?? "";
const tableRows = (text: string) => text.split("\n").filter((l) => /^\| \d+ \|/.test(l));
const attr = (el: string, name: string) => Number(new RegExp(`\\b${name}="([^"]+)"`).exec(el)![1]);

function plotArea(svg: string) {
  const el = /<rect class="plot-area"[^>]*>/.exec(svg)![0];
  const y = attr(el, "y");
  return { top: y, bottom: y + attr(el, "height") };
}

/** y coordinates of the step line's vertical moves, in order */
function stepYs(svg: string): number[] {
  const d = /<path class="running-best" d="([^"]+)"/.exec(svg)![1];
  return [...d.matchAll(/[MV](?:[\d.]+ )?([\d.]+)/g)].map((m) => Number(m[1]));
}

function rows(n: number, f: (i: number) => Partial<ResultRow>): ResultRow[] {
  return Array.from({ length: n }, (_, i) => {
    const r = { commit: i === 0 ? "baseline" : (0x1000000 + i).toString(16).slice(-7), value: 1 - i * 1e-4, memoryGb: 44, status: "discard", description: `experiment ${i}`, ...f(i) };
    return { line: i + 2, valueText: r.value.toFixed(6), memoryText: r.memoryGb.toFixed(1), ...r };
  });
}

describe("renderMarkdown", () => {
  const md = renderMarkdown(karpathy.rows, { ...MIN, tag: "mar5", branch: "autoresearch/mar5", problems: karpathy.problems });

  it("summarizes counts, keep rate, best, baseline and the improvement", () => {
    expect(karpathy.problems).toEqual([]);
    expect(md).toMatch(/^# autoresearch report: mar5\n/);
    expect(md).toContain("Branch `autoresearch/mar5`");
    expect(md).toContain("- Experiments: 30 (10 keep, 16 discard, 4 crash)");
    expect(md).toContain("- Keep rate: 33.3% (10 of 30; 38.5% of the 26 that were not crashes)");
    expect(md).toContain("- Best: `0c1d2e3` (#28), val_bpb 0.972100: short-window attention on layers 1,3,5 (size 256)");
    expect(md).toContain("- Baseline: `baseline` (#1), val_bpb 0.997900");
    expect(md).toContain("- Improvement over baseline: 0.025800 (2.59%) lower");
    expect(md).toContain("- Experiments since the last keep: 2");
    expect(md).toMatch(/^- Longest stretch without a keep: \d+ experiments \(#\d+–#\d+\)$/m);
    expect(md).not.toContain("## Problems");
  });

  it("lists the trajectory with each keep's gain, and every row in the full table", () => {
    const traj = tableRows(section(md, "Trajectory"));
    expect(traj).toHaveLength(10);
    expect(traj[0]).toBe("| 1 | `baseline` | 0.997900 | baseline | baseline |");
    expect(traj[1]).toBe("| 2 | `a1b2c3d` | 0.993200 | +0.004700 | increase matrix LR to 0.04 |");
    const all = tableRows(section(md, "All experiments"));
    expect(all).toHaveLength(30);
    expect(all[3]).toBe("| 4 | `c3d4e5f` | 0.000000 | 0.0 | crash | double model width (OOM) |");
    // every row keeps exactly 6 cells: a "|" in a description is escaped
    for (const l of all) expect(l.split(/(?<!\\)\|/).length - 2).toBe(6);
    expect(all[28]).toContain("embedding LR 0.8 \\| 1.0 (sweep)");
    expect(md).toContain("| untie wte & lm_head, lr 0.6 for &lt;wte> |");
    expect(md).not.toContain("<wte>");
  });

  it("lists hand edits found in results.tsv and still reads the rows", () => {
    const h = renderMarkdown(handEdited.rows, { ...MIN, problems: handEdited.problems });
    expect(h).toMatch(/^# autoresearch report\n/);
    expect(h).toContain("- Experiments: 4 (2 keep, 1 discard, 1 crash)");
    expect(h).toContain("- Best: `b2c3d4e` (#3), val_bpb 0.990000: lr 0.04 note: re-run later");
    const problems = section(h, "Problems in results.tsv");
    expect(problems).toContain("CRLF line endings");
    expect(problems).toContain('line 3: val_bpb "nan" is not a number');
    expect(problems).toContain("line 4 has 6 fields");
    expect(tableRows(section(h, "All experiments"))[1]).toBe("| 2 | `a1b2c3d` | nan | 44.0 | discard | metric line missing from run.log |");
  });

  it("shows a commit subject only where it says more than the description, and copes with unknown commits", () => {
    const subjects = new Map([
      ["a1b2c3d", "increase matrix LR to 0.04"],
      ["e5f6a7b", "hand-written subject"],
    ]);
    const m = renderMarkdown(karpathy.rows, { ...MIN, problems: [], subjects });
    expect(m).toContain("halve batch size to 2^18 tokens (commit: hand-written subject) |");
    expect(m).not.toContain("(commit: increase matrix LR");
  });

  it("names the longest plateau", () => {
    const rs = rows(200, (i) => ({ status: i === 0 || i === 30 || i === 190 ? "keep" : i % 4 === 1 ? "crash" : "discard" }));
    const m = renderMarkdown(rs, { ...MIN, problems: [] });
    expect(m).toContain("- Longest stretch without a keep: 159 experiments (#32–#190)");
    expect(m).toContain("- Experiments since the last keep: 9");
  });

  it("measures the improvement upwards for a max goal", () => {
    const rs = parseResults("commit\tacc\tmemory_gb\tstatus\tdescription\nbaseline\t0.500000\t1.0\tkeep\tbaseline\naaaaaaa\t0.600000\t1.0\tkeep\tbetter\nbbbbbbb\t0.550000\t1.0\tdiscard\tworse\n", "acc").rows;
    const m = renderMarkdown(rs, { metric: "acc", goal: "max", problems: [] });
    expect(m).toContain("- Improvement over baseline: 0.100000 (20.00%) higher");
    expect(m).toContain("| 2 | `aaaaaaa` | 0.600000 | +0.100000 | better |");
  });

  it("says so when nothing was kept", () => {
    const m = renderMarkdown(rows(2, () => ({ status: "crash", value: 0 })), { ...MIN, problems: [] });
    expect(m).toContain("- Best: none yet");
    expect(m).toContain("No kept experiment with a value yet.");
  });
});

describe("renderSvg", () => {
  const svg = renderSvg(karpathy.rows, { ...MIN, tag: "mar5" });

  it("is well-formed, self-contained SVG with a white background", () => {
    assertWellFormed(svg);
    expect(svg).toContain('<rect width="1100" height="660" fill="#ffffff"/>');
    expect(svg).not.toMatch(/<script|<image|@import|href=/);
    expect(svg).toContain("autoresearch progress (mar5): 30 experiments, 10 kept");
  });

  it("draws one marker per row: keeps, discards, crashes and the off-scale outlier", () => {
    expect(count(svg, /class="pt /g)).toBe(30);
    expect(count(svg, /class="pt keep"/g)).toBe(10);
    expect(count(svg, /class="pt crash"/g)).toBe(4);
    // 1.140000 (a diverged run) would squash the rest: it sits on the top edge instead
    expect(count(svg, /class="pt discard offscale"/g)).toBe(1);
    expect(count(svg, /class="pt discard"/g)).toBe(15);
  });

  it("keeps crashes (logged as 0.000000) out of the value range and below the plot", () => {
    const { top, bottom } = plotArea(svg);
    const ticks = [...svg.matchAll(/class="ytick"[^>]*>([^<]+)</g)].map((m) => Number(m[1]));
    expect(ticks.length).toBeGreaterThan(3);
    for (const t of ticks) expect(t).toBeGreaterThan(0.95);
    for (const m of svg.matchAll(/<path class="pt crash" d="M[\d.]+ ([\d.]+)/g)) expect(Number(m[1])).toBeGreaterThan(bottom);
    for (const m of svg.matchAll(/<circle class="pt [^"]*" cx="[\d.]+" cy="([\d.]+)"/g)) {
      expect(Number(m[1])).toBeGreaterThanOrEqual(top);
      expect(Number(m[1])).toBeLessThanOrEqual(bottom);
    }
  });

  it("draws the running best as a step line that only goes down for a min goal", () => {
    const ys = stepYs(svg);
    expect(ys).toHaveLength(10);
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeGreaterThan(ys[i - 1]); // screen y grows downwards
  });

  it("and only up for a max goal", () => {
    const rs = rows(20, (i) => ({ value: 0.5 + (i % 3 === 0 ? i : -i) * 0.001, status: i % 3 === 0 ? "keep" : "discard" }));
    const s = renderSvg(rs, { metric: "acc", goal: "max" });
    assertWellFormed(s);
    const ys = stepYs(s);
    expect(ys).toHaveLength(7);
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThan(ys[i - 1]);
    expect(s).toContain("acc (higher is better)");
  });

  it("labels kept points with escaped, truncated descriptions that stay inside the plot", () => {
    const labels = [...svg.matchAll(/<text class="label" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</g)];
    expect(labels.length).toBeGreaterThanOrEqual(8);
    const texts = labels.map((m) => m[3]);
    expect(texts).toContain("baseline");
    expect(texts).toContain("untie wte &amp; lm_head, lr 0.6 for &lt;wte&gt;");
    expect(texts).toContain("add value embeddings (ve) to every other lay…");
    for (const t of texts) expect([...t.replace(/&\w+;/g, "x")].length).toBeLessThanOrEqual(45);
    const { top, bottom } = plotArea(svg);
    for (const [, x, y] of labels) {
      expect(Number(x)).toBeGreaterThan(84);
      expect(Number(x)).toBeLessThan(1072);
      expect(Number(y)).toBeGreaterThan(top);
      expect(Number(y)).toBeLessThan(bottom);
    }
    // crash descriptions appear only escaped, in tooltips
    expect(svg).toContain("MoE with 4 experts &lt;top-2&gt; &amp; aux loss");
    expect(svg).not.toMatch(/<(wte|top-2)>/);
  });

  it("escapes anything a description may hold", () => {
    const nasty = ["</text><script>alert(1)</script>", `quotes " and ' & ]]> <!-- --> <![CDATA[`, "ctrl \u0001\u0008\u000b\u001f bell", "lone \ud800 surrogate", "emoji 🚀 and 中文 and λ", "\ufffe\uffff"];
    const rs = rows(nasty.length, (i) => ({ status: "keep", value: 1 - i * 0.01, description: nasty[i], commit: `<c${i}&>` }));
    const s = renderSvg(rs, { metric: "val_bpb", goal: "min" });
    assertWellFormed(s);
    expect(s).not.toContain("<script");
    expect(s).toContain("emoji 🚀 and 中文 and λ");
    const m = renderMarkdown(rs, { ...MIN, problems: ["a <b>problem</b> | here"] });
    expect(m).not.toMatch(/<script|<b>/);
    expect(m).toContain("- a &lt;b>problem&lt;/b> \\| here");
  });

  it("draws a single row, and a log of crashes only", () => {
    const one = renderSvg(rows(1, () => ({ status: "keep", value: 0.9979 })), MIN);
    assertWellFormed(one);
    expect(count(one, /class="pt /g)).toBe(1);
    expect(one).toContain('<path class="running-best"');
    expect(one).toContain(">experiment 0</text>");
    const crashes = renderSvg(rows(3, () => ({ status: "crash", value: 0 })), MIN);
    assertWellFormed(crashes);
    expect(count(crashes, /class="pt crash"/g)).toBe(3);
    expect(crashes).not.toContain("running-best");
    expect(crashes).toContain("no finished run with a value yet");
  });

  it("puts rows without a number (nan, other statuses) somewhere visible", () => {
    const s = renderSvg(handEdited.rows, MIN);
    assertWellFormed(s);
    expect(count(s, /class="pt /g)).toBe(4);
    expect(count(s, /class="pt discard novalue"/g)).toBe(1);
    expect(s).toContain("no value (1)");
  });

  it("does not let a timed-out run (logged as 0.000000 / 0.0, status discard) squash the value range", () => {
    // the server writes a run without a metric as 0.000000 whatever its status; a run killed at
    // the hard limit is a discard. Drawn as a value, 0 stretched the axis from 0 to 1 (bug).
    const timedOut = { ...karpathy.rows[5], commit: "ffff001", value: 0, valueText: "0.000000", memoryGb: 0, memoryText: "0.0", status: "discard", description: "killed at the hard limit" };
    const rs = [...karpathy.rows.slice(0, 12), timedOut, ...karpathy.rows.slice(12)];
    const s = renderSvg(rs, MIN);
    assertWellFormed(s);
    const ticks = [...s.matchAll(/class="ytick"[^>]*>([^<]+)</g)].map((m) => Number(m[1]));
    for (const t of ticks) expect(t).toBeGreaterThan(0.95);
    const { bottom } = plotArea(s);
    const el = /<circle class="pt discard novalue" cx="[\d.]+" cy="([\d.]+)"[^>]*><title>#13 ffff001/.exec(s);
    expect(Number(el![1])).toBeGreaterThan(bottom); // in the band under the plot
    expect(s).toContain("no value (1)");
    // a band that holds no crash is not labelled "crash"
    const noCrash = renderSvg([...rows(5, (i) => ({ status: i % 2 ? "discard" : "keep" })), ...rows(1, () => ({ value: 0, memoryGb: 0 }))], MIN);
    expect(noCrash).toMatch(/fill="#c0392b">no value</);
    // but where a kept run really scored 0, a 0 is a value
    const zero = renderSvg(rows(4, (i) => ({ status: i % 2 ? "discard" : "keep", value: i === 2 ? 0 : i === 3 ? 0 : 1, memoryGb: 0 })), { metric: "err", goal: "min" });
    expect(zero).not.toContain("novalue");
  });

  it("widens the left margin for long tick labels so they stay clear of the axis title", () => {
    const rs = rows(30, (i) => ({ status: i % 3 === 0 ? "keep" : "discard", value: 12345.6 - (i % 3 === 0 ? i : -i) * 1e-5 }));
    const s = renderSvg(rs, MIN);
    const left = attr(/<rect class="plot-area"[^>]*>/.exec(s)![0], "x");
    expect(left).toBeGreaterThan(84);
    for (const m of s.matchAll(/<text class="ytick" x="([\d.]+)"[^>]*>([^<]+)</g)) {
      expect(m[2]).toMatch(/^12345\.\d{4}$/);
      expect(Number(m[1]) - m[2].length * 0.6 * 11).toBeGreaterThanOrEqual(28); // the rotated title ends near x = 26
    }
    // the karpathy chart keeps the usual margin
    expect(attr(/<rect class="plot-area"[^>]*>/.exec(svg)![0], "x")).toBe(84);
  });

  it("cuts a long tag in the title and a long metric name on the y axis to fit the picture", () => {
    const tag = "a-very-long-tag-name-that-someone-typed-for-this-session-apr12-gpu0-experiment-series";
    const metric = "a_very_long_metric_name_for_the_validation_bits_per_byte_on_the_held_out_shard_of_fineweb_edu";
    const s = renderSvg(karpathy.rows, { metric, goal: "min", tag });
    assertWellFormed(s);
    const title = /<text x="550" y="24"[^>]*>([^<]+)</.exec(s)![1];
    expect(title).toMatch(/^autoresearch progress \(a-very-long-tag.*…\): 30 experiments, 10 kept$/);
    expect([...title].length * 0.6 * 16).toBeLessThanOrEqual(1100 - 40);
    const ylab = /<text x="20"[^>]*rotate\(-90[^>]*>([^<]+)</.exec(s)![1];
    expect(ylab).toMatch(/^a_very_long_metric_name.*… \(lower is better\)$/);
    const { top, bottom } = plotArea(s);
    expect([...ylab].length * 0.6 * 13).toBeLessThanOrEqual(bottom - top);
  });

  it("gives every label a white halo under it, so it reads over dots and the step line", () => {
    const labels = [...svg.matchAll(/<text class="label" ([^>]*)>([^<]*)</g)];
    const halos = [...svg.matchAll(/<text class="label-halo" ([^>]*)>([^<]*)</g)];
    expect(halos.map((m) => m[1] + m[2])).toEqual(labels.map((m) => m[1] + m[2]));
    expect(svg.indexOf('class="label-halos"')).toBeLessThan(svg.indexOf('<g class="labels"'));
    expect(svg).toMatch(/<g class="label-halos" fill="#fff" stroke="#fff" stroke-width="3"/);
  });

  it("draws 10,000 rows: every point, a bounded number of labels", () => {
    const big = rows(10_000, (i) => ({ status: i % 97 === 0 ? "keep" : i % 13 === 0 ? "crash" : "discard", value: i % 13 === 0 && i % 97 ? 0 : 1 - (i % 97 === 0 ? i * 1e-6 : i * 1e-6 - 0.002 * Math.sin(i)) }));
    const s = renderSvg(big, MIN);
    assertWellFormed(s);
    expect(count(s, /class="pt /g)).toBe(10_000);
    expect(count(s, /<text class="label"/g)).toBeLessThanOrEqual(40);
    // under the x axis, not on the legend's line where a long legend would run into it
    const note = /<text class="unlabelled" x="([\d.]+)" y="([\d.]+)"[^>]*>(\d+) kept not labelled \(see report\.md\)</.exec(s)!;
    expect(Number(note[2])).toBeGreaterThan(plotArea(s).bottom + 40);
    expect(Number(note[3])).toBe(count(s, /class="pt keep"/g) - count(s, /<text class="label"/g));
  });
});

describe("writeReport", () => {
  /** A session-like workspace: a branch with commits, results.tsv git-excluded the way start_session does it. */
  function session() {
    const ws = makeWorkspace();
    git(ws, "checkout", "-q", "-b", "autoresearch/t");
    const commit = (content: string, msg: string) => {
      write(ws, "train.py", content);
      git(ws, "commit", "-q", "-am", msg);
      return git(ws, "rev-parse", "--short=7", "HEAD").trim();
    };
    const a = commit("LR = 0.04\n", "t: increase LR to 0.04");
    const b = commit("LR = 0.05\n", "a subject written by hand");
    fs.appendFileSync(path.join(ws, ".git", "info", "exclude"), "/results.tsv\n/run.log\n");
    return { ws, a, b };
  }

  it("writes report.md and progress.svg, git-excluded, and leaves the tree clean", async () => {
    const { ws, a, b } = session();
    write(
      ws,
      "results.tsv",
      ["commit\tval_bpb\tmemory_gb\tstatus\tdescription", "baseline\t0.997900\t44.0\tkeep\tbaseline", `${a}\t0.990000\t44.0\tkeep\tincrease LR to 0.04`, `${b}\t0.985000\t44.0\tkeep\tLR 0.05`, "deadbee\t0.000000\t0.0\tcrash\tunknown commit (OOM)", ""].join("\n"),
    );
    const r = await writeReport(ws);
    expect(r).toEqual({ markdown: path.join(ws, "report.md"), svg: path.join(ws, "progress.svg"), rows: 4 });
    expect(porcelain(ws)).toBe("");
    expect(read(ws, ".git/info/exclude")).toMatch(/^\/report\.md$/m);
    expect(read(ws, ".git/info/exclude")).toMatch(/^\/progress\.svg$/m);
    const md = read(ws, "report.md");
    expect(md).toMatch(/^# autoresearch report: t\n/);
    expect(md).toContain("Branch `autoresearch/t`");
    expect(md).toContain("- Experiments: 4 (3 keep, 0 discard, 1 crash)");
    expect(md).toContain(`| 3 | \`${b}\` | 0.985000 | +0.005000 | LR 0.05 (commit: a subject written by hand) |`);
    expect(md).not.toContain("(commit: increase LR"); // "t: <description>" says nothing more
    assertWellFormed(read(ws, "progress.svg"));
    // no temporary files left behind, and a second run changes nothing in git's view
    expect(fs.readdirSync(path.join(ws, ".git", "autoresearch")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    await writeReport(ws);
    expect(porcelain(ws)).toBe("");
    expect(count(read(ws, ".git/info/exclude"), /^\/report\.md$/gm)).toBe(1);
  });

  it("refuses without rows, with a clear message", async () => {
    const { ws } = session();
    await expect(writeReport(ws)).rejects.toThrow(`no results.tsv with rows in ${ws}: run a session first`);
    write(ws, "results.tsv", "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n");
    await expect(writeReport(ws)).rejects.toThrow(/no results\.tsv with rows in .*: run a session first/);
    expect(fs.existsSync(path.join(ws, "report.md"))).toBe(false);
  });

  async function reportInWorktree(parent: string) {
    const main = makeWorkspace();
    const wt = addWorktree(main, "wt", parent);
    fs.appendFileSync(path.join(main, ".git", "info", "exclude"), "/results.tsv\n");
    write(wt, "results.tsv", "commit\tval_bpb\tmemory_gb\tstatus\tdescription\nbaseline\t0.997900\t44.0\tkeep\tbaseline\n");
    expect((await writeReport(wt)).rows).toBe(1);
    expect(read(wt, "report.md")).toMatch(/^# autoresearch report/);
    expect(fs.readdirSync(wt).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(porcelain(wt)).toBe("");
    expect(fs.existsSync(path.join(main, "report.md"))).toBe(false);
  }

  it("writes the report in a linked worktree", () => reportInWorktree(os.tmpdir()));

  // /dev/shm is the one other filesystem most Linux machines have; skipped where it is not one.
  const otherFs = fs.existsSync("/dev/shm") && fs.statSync("/dev/shm").dev !== fs.statSync(os.tmpdir()).dev;
  it.runIf(otherFs)("writes the report in a linked worktree on another filesystem than its git dir (EXDEV)", () => reportInWorktree("/dev/shm"));

  it("refuses to overwrite a tracked report.md", async () => {
    const { ws } = session();
    write(ws, "report.md", "mine\n");
    git(ws, "add", "report.md");
    git(ws, "commit", "-q", "-m", "my report");
    write(ws, "results.tsv", "commit\tval_bpb\tmemory_gb\tstatus\tdescription\nbaseline\t0.997900\t44.0\tkeep\tbaseline\n");
    await expect(writeReport(ws)).rejects.toThrow(/report\.md is tracked/);
    expect(read(ws, "report.md")).toBe("mine\n");
    expect(porcelain(ws)).toBe("");
  });
});
