import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { renderMarkdown } from "../../src/report/markdown.js";
import { writeReport } from "../../src/report/report.js";
import { DISCARD_FILL, DISCARD_OPACITY, renderSvg, textWidth } from "../../src/report/svg.js";
import { parseResults, readResults, type ResultRow } from "../../src/results.js";
import { summarizeNoise } from "../../src/rules/noise.js";
import { addWorktree, git, makeWorkspace, porcelain, read, removeWorkspaces, write } from "../helpers/workspace.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
const karpathy = readResults(path.join(FIXTURES, "results-karpathy.tsv"));
// 126 rows shaped like karpathy's exp/H100/mar8 night (see fixtures/results-126-standin.md: a stand-in)
const karpathy126 = readResults(path.join(FIXTURES, "results-126-standin.tsv"));
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

// ---- geometry of the drawn chart, read back from the SVG: label boxes from each label's
// position, anchor and rotation and the renderer's own width estimate; markers from the circles
// and off-scale triangles. A label box runs from 0.8 em above its baseline to 0.25 em below.
type Pt = [number, number];
const unescapeXml = (t: string) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");

function labelBoxes(svg: string) {
  const size = Number(/<svg [^>]*font-size="([\d.]+)"/.exec(svg)![1]);
  const re = /<text class="label" x="([-\d.]+)" y="([-\d.]+)" text-anchor="(start|end)" transform="rotate\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)">([^<]*)<\/text>/g;
  return [...svg.matchAll(re)].map((m) => {
    const [x, y, rot] = [Number(m[1]), Number(m[2]), Number(m[4])];
    expect([Number(m[5]), Number(m[6])]).toEqual([x, y]); // rotated about its own anchor
    const text = unescapeXml(m[7]);
    const w = textWidth(text, size);
    const [x0, x1, y0, y1] = [m[3] === "start" ? 0 : -w, m[3] === "start" ? w : 0, -0.8 * size, 0.25 * size];
    const [c, sn] = [Math.cos((rot * Math.PI) / 180), Math.sin((rot * Math.PI) / 180)];
    const toWorld = (lx: number, ly: number): Pt => [x + lx * c - ly * sn, y + lx * sn + ly * c];
    // the distance from a point to the box, in the box's own frame
    const distance = (px: number, py: number) => {
      const [dx, dy] = [px - x, py - y];
      const [lx, ly] = [dx * c + dy * sn, -dx * sn + dy * c];
      return Math.hypot(Math.max(x0 - lx, 0, lx - x1), Math.max(y0 - ly, 0, ly - y1));
    };
    return { text, rot, poly: [toWorld(x0, y0), toWorld(x1, y0), toWorld(x1, y1), toWorld(x0, y1)], distance };
  });
}

function markers(svg: string) {
  const circles = [...svg.matchAll(/<circle class="pt ([^"]*)" cx="([-\d.]+)" cy="([-\d.]+)" r="([\d.]+)"/g)].map((m) => ({ cls: m[1], cx: Number(m[2]), cy: Number(m[3]), r: Number(m[4]) }));
  const triangles = [...svg.matchAll(/<path class="pt [^"]*offscale" d="M([-\d.]+) ([-\d.]+)L([-\d.]+) ([-\d.]+)L([-\d.]+) ([-\d.]+)Z"/g)].map((m): Pt[] => [
    [Number(m[1]), Number(m[2])],
    [Number(m[3]), Number(m[4])],
    [Number(m[5]), Number(m[6])],
  ]);
  return { circles, triangles };
}

/** Separating-axis test for convex polygons: true when their interiors intersect. */
function polysOverlap(a: Pt[], b: Pt[]): boolean {
  for (const poly of [a, b])
    for (let k = 0; k < poly.length; k++) {
      const [p, q] = [poly[k], poly[(k + 1) % poly.length]];
      const [nx, ny] = [p[1] - q[1], q[0] - p[0]];
      const pa = a.map(([x, y]) => x * nx + y * ny);
      const pb = b.map(([x, y]) => x * nx + y * ny);
      if (Math.max(...pa) <= Math.min(...pb) + 1e-9 || Math.max(...pb) <= Math.min(...pa) + 1e-9) return false;
    }
  return true;
}

/** No label overlaps a marker (any row's) or another label, and all labels slant the same way; returns the labels. */
function assertLabelsClear(svg: string) {
  const labels = labelBoxes(svg);
  expect(labels.length).toBe(count(svg, /<text class="label"/g)); // every label was read back
  const { circles, triangles } = markers(svg);
  for (const l of labels) {
    for (const c of circles) if (l.distance(c.cx, c.cy) < c.r) throw new Error(`label "${l.text}" covers the ${c.cls} marker at ${c.cx},${c.cy}`);
    for (const t of triangles) if (polysOverlap(l.poly, t)) throw new Error(`label "${l.text}" covers the off-scale marker at ${t[0]}`);
  }
  for (let i = 0; i < labels.length; i++)
    for (let j = i + 1; j < labels.length; j++) if (polysOverlap(labels[i].poly, labels[j].poly)) throw new Error(`labels "${labels[i].text}" and "${labels[j].text}" overlap`);
  expect(new Set(labels.map((l) => l.rot)).size).toBeLessThanOrEqual(1);
  return labels;
}

/** WCAG contrast of a grey #gggggg painted at `opacity` over white. */
function contrastOnWhite(hex: string, opacity: number): number {
  const c = 255 - opacity * (255 - parseInt(hex.slice(1, 3), 16));
  const s = c / 255;
  const lum = s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  return 1.05 / (lum + 0.05);
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
    // mirrored for a max goal: the empty corner is above-left, so every label falls to the right
    expect(assertLabelsClear(s).map((l) => l.rot)).toEqual(Array(7).fill(30));
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
    // all ten kept points fit, none over a dot or another label, all at karpathy's slant
    expect(assertLabelsClear(svg).map((l) => l.rot)).toEqual(Array(10).fill(-30));
    // crash descriptions appear only escaped, in tooltips
    expect(svg).toContain("MoE with 4 experts &lt;top-2&gt; &amp; aux loss");
    expect(svg).not.toMatch(/<(wte|top-2)>/);
  });

  it("escapes anything a description may hold", () => {
    const nasty = ["</text><script>alert(1)</script>", `quotes " and ' & ]]> <!-- --> <![CDATA[`, "ctrl \u0001\u0008\u000b\u001f bell", "lone \ud800 surrogate", "emoji 🚀 and 中文 and λ", "\ufffe\uffff"];
    const rs = rows(nasty.length, (i) => ({ status: "keep", value: 1 - i * 0.01, description: nasty[i], commit: `<c${i}&>` }));
    const s = renderSvg(rs, { metric: "val_bpb", goal: "min" });
    assertWellFormed(s);
    expect(assertLabelsClear(s).length).toBeGreaterThanOrEqual(4);
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
    assertLabelsClear(one);
    const crashes = renderSvg(rows(3, () => ({ status: "crash", value: 0 })), MIN);
    assertWellFormed(crashes);
    expect(count(crashes, /class="pt crash"/g)).toBe(3);
    expect(crashes).not.toContain("running-best");
    expect(crashes).toContain("no finished run with a value yet");
  });

  it("puts rows without a number (nan, other statuses) somewhere visible", () => {
    const s = renderSvg(handEdited.rows, MIN);
    assertWellFormed(s);
    assertLabelsClear(s);
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
    assertLabelsClear(s);
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
    assertLabelsClear(s);
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
    assertLabelsClear(s);
    const title = /<text x="550" y="24"[^>]*>([^<]+)</.exec(s)![1];
    expect(title).toMatch(/^autoresearch progress \(a-very-long-tag.*…\): 30 experiments, 10 kept$/);
    expect(textWidth(title, 16)).toBeLessThanOrEqual(1100 - 40);
    const ylab = /<text x="20"[^>]*rotate\(-90[^>]*>([^<]+)</.exec(s)![1];
    expect(ylab).toMatch(/^a_very_long_metric_name.*… \(lower is better\)$/);
    const { top, bottom } = plotArea(s);
    expect(textWidth(ylab, 13)).toBeLessThanOrEqual(bottom - top);
  });

  it("gives every label a white halo under it, so it reads over dots and the step line", () => {
    const labels = [...svg.matchAll(/<text class="label" ([^>]*)>([^<]*)</g)];
    const halos = [...svg.matchAll(/<text class="label-halo" ([^>]*)>([^<]*)</g)];
    expect(halos.map((m) => m[1] + m[2])).toEqual(labels.map((m) => m[1] + m[2]));
    expect(svg.indexOf('class="label-halos"')).toBeLessThan(svg.indexOf('<g class="labels"'));
    expect(svg).toMatch(/<g class="label-halos" fill="#fff" stroke="#fff" stroke-width="3"/);
  });

  it("draws 10,000 rows: every point, a bounded number of labels", () => {
    // discards never better than the running best (one that was would have been kept), so that
    // the corner under the step line is free for labels, as in a real log
    const big = rows(10_000, (i) => ({ status: i % 97 === 0 ? "keep" : i % 13 === 0 ? "crash" : "discard", value: i % 13 === 0 && i % 97 ? 0 : 1 - (i % 97 === 0 ? i * 1e-6 : i * 1e-6 - 2e-5 - 0.002 * Math.abs(Math.sin(i))) }));
    const s = renderSvg(big, MIN);
    assertWellFormed(s);
    expect(count(s, /class="pt /g)).toBe(10_000);
    expect(assertLabelsClear(s)).toHaveLength(40);
    // under the x axis, not on the legend's line where a long legend would run into it
    const note = /<text class="unlabelled" x="([\d.]+)" y="([\d.]+)"[^>]*>(\d+) kept not labelled \(see report\.md\)</.exec(s)!;
    expect(Number(note[2])).toBeGreaterThan(plotArea(s).bottom + 40);
    expect(Number(note[3])).toBe(count(s, /class="pt keep"/g) - count(s, /<text class="label"/g));
  });
});

describe("progress.svg of a 126-row night shaped like karpathy's (exp/H100/mar8)", () => {
  const svg = renderSvg(karpathy126.rows, MIN);
  const labels = labelBoxes(svg);
  const texts = labels.map((l) => l.text);
  const kept = karpathy126.rows.filter((r) => r.status === "keep");

  it("reads the whole file", () => {
    expect(karpathy126.problems).toEqual([]);
    expect(karpathy126.rows).toHaveLength(126);
    expect(karpathy126.rows[0].commit).toBe("baseline");
    expect(kept).toHaveLength(23);
    expect(karpathy126.rows.filter((r) => r.status === "discard")).toHaveLength(102);
    expect(karpathy126.rows.filter((r) => r.status === "crash")).toHaveLength(1);
    assertWellFormed(svg);
    expect(count(svg, /class="pt /g)).toBe(126);
  });

  it("labels 21 of the 23 keeps, none over any marker or another label, and says 2 are left out", () => {
    expect(assertLabelsClear(svg)).toHaveLength(21);
    expect(svg).toContain(">2 kept not labelled (see report.md)</text>");
  });

  it("keeps the baseline, the best and the biggest gains when not all fit", () => {
    const label = (d: string) => texts.find((t) => t === d || (t.endsWith("…") && d.startsWith(t.slice(0, -1))));
    expect(label("baseline")).toBeDefined();
    expect(label("warmdown 0.7 to 0.75")).toBeDefined(); // the best, 0.969686 at #112
    const byGain = kept.slice(1).map((r, i) => ({ d: r.description, gain: kept[i].value - r.value })).sort((a, b) => b.gain - a.gain);
    for (const { d } of byGain.slice(0, 6)) expect(label(d), d).toBeDefined();
    // the ones left out are small steps in the crowded early corner
    const left = kept.filter((r) => !label(r.description));
    expect(left.map((r) => r.description)).toEqual(["warmdown 0.5 to 0.7", "FINAL_LR_FRAC 0.0 to 0.05"]);
    for (const r of left) expect(karpathy126.rows.indexOf(r)).toBeLessThan(12);
  });

  it("slants every label the same way, the baseline's included: karpathy's 30°, rising to the right", () => {
    expect(texts[0]).toBe("baseline"); // placed first
    expect(new Set(labels.map((l) => l.rot))).toEqual(new Set([-30]));
    // a label moved off its point's line has a leader from the point
    const leaders = [...svg.matchAll(/<line class="leader" x1="([\d.]+)" y1="([\d.]+)"/g)];
    expect(leaders.length).toBeGreaterThan(0);
    const keeps = markers(svg).circles.filter((c) => c.cls === "keep");
    for (const [, x, y] of leaders) expect(Math.min(...keeps.map((k) => Math.hypot(k.cx - Number(x), k.cy - Number(y))))).toBeLessThanOrEqual(7);
  });

  it("draws discards visibly (r 4, mid grey, 3:1 on white) yet lighter than keeps", () => {
    const { circles } = markers(svg);
    const discard = /<circle class="pt discard" [^>]*>/.exec(svg)![0];
    const keep = /<circle class="pt keep" [^>]*>/.exec(svg)![0];
    expect(discard).toContain(`fill="${DISCARD_FILL}" fill-opacity="${DISCARD_OPACITY}"`);
    expect(discard).not.toContain("stroke");
    for (const c of circles.filter((c) => c.cls === "discard")) expect(c.r).toBe(4);
    for (const c of circles.filter((c) => c.cls === "keep")) expect(c.r).toBe(5);
    expect(keep).toMatch(/fill="#2ecc71" stroke="#000"/); // opaque, outlined, on top
    expect(contrastOnWhite(DISCARD_FILL, DISCARD_OPACITY)).toBeGreaterThanOrEqual(3); // WCAG 1.4.11, graphics
    expect(contrastOnWhite("#bbbbbb", 0.8)).toBeLessThan(1.7); // what it was: too faint
    expect(svg.indexOf('<g class="discards">')).toBeLessThan(svg.indexOf('<g class="keeps">'));
    expect(svg).toMatch(new RegExp(`<circle cx="[\\d.]+" cy="[\\d.]+" r="4" fill="${DISCARD_FILL}" fill-opacity="${DISCARD_OPACITY}"/>\\s*<text [^>]*>discarded \\(102\\)<`));
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

describe("the noise-aware rule in the report", () => {
  const rows = parseResults(
    [
      "commit\tval_bpb\tmemory_gb\tstatus\tdescription",
      "a000000\t1.000200\t1.0\tkeep\tbaseline",
      "a000000\t0.999800\t1.0\tkeep\tbaseline [run 2: mean 1.000000 of 2 runs]",
      "b111111\t0.950100\t1.0\tkeep\tLR 0.045",
      "b111111\t0.949900\t1.0\tkeep\tLR 0.045 [run 2: mean 0.950000 of 2 runs]",
      "c222222\t0.940000\t1.0\tkeep\tlucky",
      "c222222\t0.964000\t1.0\tdiscard\tlucky [revoked: mean 0.952000 of 2 runs behind b111111 0.950000]",
    ].join("\n") + "\n",
  ).rows;
  const keyOf: Record<string, string> = { a000000: "K0", b111111: "KB", c222222: "KC" };
  const measured = rows.map((row) => ({ row, key: keyOf[row.commit], value: row.value, revoked: row.description.includes("[revoked") }));
  const noise = summarizeNoise(measured, "min");

  it("report.md has a Noise section: σ, the best as mean ± σ/√n, keeps, revocations, false-keep risk", () => {
    const md = renderMarkdown(rows, { metric: "val_bpb", goal: "min", problems: [], noise });
    const section = md.slice(md.indexOf("## Noise"), md.indexOf("## Trajectory"));
    expect(section).toContain("- σ of one run: 0.009800 (pooled over 3 degrees of freedom)");
    expect(section).toMatch(/- Best: `b111111`, val_bpb 0\.950000 ± 0\.006929 \(mean of 2 runs ± σ\/√n\): LR 0\.045/);
    expect(section).toContain("- Experiments: 2 codes tried, 1 kept (50.0%), 1 revoked by a repeat");
    expect(section).toMatch(/- False-keep risk: \d+\.\d% per kept step/);
    expect(renderMarkdown(rows, { metric: "val_bpb", goal: "min", problems: [] })).not.toContain("## Noise");
  });

  it("progress.svg says the best as a mean with its standard error under the plot", () => {
    const svg = renderSvg(rows, { metric: "val_bpb", goal: "min", noise });
    expect(svg).toMatch(/<text class="noise"[^>]*>best 0\.950000 ± 0\.006929 \(mean of 2 runs\), σ 0\.009800<\/text>/);
    expect(renderSvg(rows, { metric: "val_bpb", goal: "min" })).not.toContain('class="noise"');
  });

  it("progress.svg draws each kept commit once, at its mean; repeats and the revoked keep are plain runs", () => {
    const svg = renderSvg(rows, { metric: "val_bpb", goal: "min", noise });
    expect(svg).toMatch(/autoresearch progress: 6 runs, 2 kept/);
    expect(svg).toContain("discarded or repeat (4)");
    const labels = [...svg.matchAll(/<text class="label"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(labels.filter((l) => /LR 0\.045/.test(l))).toHaveLength(1);
    expect(labels.some((l) => /lucky/.test(l))).toBe(false);
    expect(svg).toContain("#3 b111111 0.950000 keep: LR 0.045");
  });
});
