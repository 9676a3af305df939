import { sanitizeDescription, type ResultRow } from "../results.js";
import { better, type Goal } from "../rules/policy.js";
import type { NoiseSummary } from "../rules/noise.js";
import { summarize, type Summary } from "./summary.js";

/**
 * progress.svg is the picture karpathy's analysis.ipynb draws with matplotlib, drawn here as plain
 * SVG so that no Python (pandas, matplotlib) is needed: every experiment a dot, kept ones green
 * and labelled, the running best as a step line.
 */

export interface ChartInfo {
  metric: string;
  goal: Goal;
  tag?: string | null;
  /** the noise-aware rule's numbers: the best as mean ± σ/√n goes under the plot */
  noise?: NoiseSummary | null;
}

/** XML text and attribute content: escaped, and without characters XML 1.0 cannot carry. */
function xml(s: string): string {
  return sanitizeDescription(s, 10_000).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!).replace(/[\ufffe\uffff]/g, "\ufffd");
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** A step of 1, 2 or 5 × 10^k giving about `target` intervals over `span`. */
function niceStep(span: number, target: number): number {
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

const W = 1100;
const H = 660;
const FONT = 11;
const LABEL_MAX = 45; // karpathy's notebook cuts descriptions at 45 characters
const LABEL_SHORT = 24;
const MAX_LABELS = 40;
/** Every label is drawn at this angle (karpathy's 30°, rising to the right); mirrored for a max goal. */
const LABEL_ROT = 30;
/** Padding beyond the data on the worse side, and the paddings tried on the better side, as fractions of the value span. */
const PAD = 0.08;
const BETTER_PADS = [0.08, 0.16, 0.24, 0.32];
/** Discarded runs: a mid grey, translucent so that piled-up dots read darker; alone, #808080 at 0.85 on white is #939393, 3.0:1 (WCAG's minimum for graphics). */
export const DISCARD_FILL = "#808080";
export const DISCARD_OPACITY = 0.85;

interface Quad {
  pts: [number, number][];
  /** bounding box [minX, minY, maxX, maxY], for a cheap test before the exact one */
  bb: [number, number, number, number];
}

function quad(pts: [number, number][]): Quad {
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return { pts, bb: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)] };
}

/** Where everything goes, for one choice of padding on the better side of the value axis. */
interface Frame {
  n: number;
  yticks: { v: number; text: string }[];
  left: number;
  X: (i: number) => number;
  Y: (v: number) => number;
  /** one per row drawn inside the plot: kept and discarded dots, off-scale triangles (half-size h) */
  marks: { i: number; x: number; y: number; h: number; kind: "keep" | "dot" | "offscale" }[];
  labels: Label[];
}

export function renderSvg(given: ResultRow[], info: ChartInfo): string {
  const { goal } = info;
  const rows = info.noise ? asKeptChain(given, info.noise) : given;
  const n = rows.length;
  const s = summarize(rows, goal);
  // A run without a metric is logged as 0.000000 / 0.0 whatever its status: crashes, but also a
  // run killed at the hard limit (a discard). Such a zero is not a value unless a kept run has 0.
  const zeroKept = s.trajectory.some((t) => t.row.value === 0);
  const hasValue = (r: ResultRow) => Number.isFinite(r.value) && (zeroKept || r.status === "keep" || !(r.value === 0 && r.memoryGb === 0));

  // ---- y range: from the values that are numbers, crashes excluded (they are logged as 0.000000).
  // A diverged run (a value far on the worse side) would flatten everything that matters into one
  // line, so the worse side is cut at one "baseline-to-best" span beyond the worst kept value;
  // points beyond it are drawn as triangles on the edge. Kept values are never cut.
  const plotted = rows.filter((r) => r.status !== "crash" && hasValue(r)).map((r) => r.value);
  let [lo0, hi0] = plotted.length ? minMax(plotted) : [0, 1];
  const keptValues = s.trajectory.map((t) => t.row.value);
  if (keptValues.length) {
    const [kLo, kHi] = minMax(keptValues);
    const allowance = Math.max(kHi - kLo, Math.abs(goal === "min" ? kHi : kLo) * 0.01);
    if (allowance > 0) {
      // the range ends at the worst value still shown, not at the cut itself
      const shown = plotted.filter((v) => (goal === "min" ? v <= kHi + allowance : v >= kLo - allowance));
      [lo0, hi0] = minMax(shown);
    }
  }

  // ---- layout: title and legend on top, a separate band under the plot for rows with no value
  // (crashes), then the x axis. Crashes never sit inside the value range.
  const hasBand = rows.some((r) => r.status === "crash" || !hasValue(r));
  const right = W - 28;
  const top = 66;
  const bandH = hasBand ? 26 : 0;
  const axisY = H - 58;
  const bottom = axisY - bandH;
  const bandY = bottom + bandH / 2;
  const ph = bottom - top;

  // Dots shrink as experiments pile up, so 10,000 of them still read as a cloud, not a smear.
  const rd = n <= 200 ? 4 : n <= 1000 ? 2.6 : 1.5;
  const rk = n <= 200 ? 5 : n <= 1000 ? 3.5 : 2.5;
  const withTitles = n <= 2000; // hover tooltips; skipped for huge logs to keep the file small

  // Labels live in the empty corner under the running best, so they may need room there: the
  // better side's padding is the smallest of BETTER_PADS that labels the most kept points (tried
  // up to 2000 rows; beyond, the labels are a sample anyway).
  const frame = (padBetter: number): Frame => {
    let lo = lo0;
    let hi = hi0;
    if (hi - lo <= 0) {
      const pad = Math.abs(lo) * 0.01 || 0.5;
      lo -= pad;
      hi += pad;
    } else {
      const span = hi - lo;
      lo -= span * (goal === "min" ? padBetter : PAD);
      hi += span * (goal === "min" ? PAD : padBetter);
    }
    // y ticks first: the left margin grows with the widest tick label (e.g. 12345.6002), so that
    // it never runs into the rotated axis title at x = 20.
    const yticks: { v: number; text: string }[] = [];
    if (plotted.length) {
      const step = niceStep(hi - lo, 6);
      const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
      for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-12; k++) yticks.push({ v: k * step, text: (k * step).toFixed(decimals) });
    }
    const left = Math.max(84, Math.ceil(34 + Math.max(0, ...yticks.map((t) => textWidth(t.text)))));
    const X = (i: number) => left + ((i - 0.5) / n) * (right - left); // i is 1-based
    const Y = (v: number) => bottom - ((v - lo) / (hi - lo)) * ph;
    const cut = goal === "min" ? hi : lo; // worse edge of the plot
    const marks: Frame["marks"] = [];
    rows.forEach((r, i) => {
      if (r.status === "crash" || !hasValue(r)) return;
      const x = r1(X(i + 1));
      if (better(cut, r.value, goal)) marks.push({ i, x, y: goal === "min" ? top + 4.5 : bottom - 4.5, h: 4.5, kind: "offscale" });
      else marks.push({ i, x, y: r1(Y(r.value)), h: r.status === "keep" ? rk + 0.5 : rd + 0.5, kind: r.status === "keep" ? "keep" : "dot" });
    });
    const f: Frame = { n, yticks, left, X, Y, marks, labels: [] };
    f.labels = placeLabels(s, goal, { left, right, top, bottom }, f, rk);
    return f;
  };
  let F = frame(BETTER_PADS[0]);
  if (hi0 > lo0 && n <= 2000 && F.labels.length < Math.min(s.trajectory.length, MAX_LABELS))
    for (const p of BETTER_PADS.slice(1)) {
      const f = frame(p);
      if (f.labels.length > F.labels.length) F = f;
      if (F.labels.length >= Math.min(s.trajectory.length, MAX_LABELS)) break;
    }
  const { yticks, left, X, Y } = F;
  const pw = right - left;

  const o: string[] = [];
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${FONT}">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  // A long tag is cut so that the title stays inside the picture.
  const counted = `: ${n} ${info.noise ? "run" : "experiment"}${n === 1 ? "" : "s"}, ${s.counts.keep} kept`;
  const tagText = info.tag ? fit(info.tag, W - 40 - textWidth(`autoresearch progress ()${counted}`, 16), 16) : "";
  const title = `autoresearch progress${tagText ? ` (${tagText})` : ""}${counted}`;
  o.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" fill="#222">${xml(title)}</text>`);
  o.push(`<rect class="plot-area" x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999" stroke-width="1"/>`);

  // ---- grid and ticks
  const g: string[] = [];
  if (plotted.length)
    for (const { v, text } of yticks) {
      const y = r1(Y(v));
      g.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#000" stroke-opacity="0.08"/>`);
      g.push(`<text class="ytick" x="${left - 6}" y="${y + 4}" text-anchor="end" fill="#444">${text}</text>`);
    }
  else g.push(`<text x="${left + pw / 2}" y="${top + ph / 2}" text-anchor="middle" fill="#888">no finished run with a value yet</text>`);
  const xstep = Math.max(1, Math.round(niceStep(Math.max(n, 1), 10)));
  for (let v = xstep; v <= n; v += xstep) {
    const x = r1(X(v));
    g.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#000" stroke-opacity="0.08"/>`);
    g.push(`<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 4}" stroke="#666"/>`);
    g.push(`<text class="xtick" x="${x}" y="${axisY + 17}" text-anchor="middle" fill="#444">${v}</text>`);
  }
  if (hasBand) {
    g.push(`<rect class="crash-band" x="${left}" y="${bottom}" width="${pw}" height="${bandH}" fill="#fdf2f2" stroke="#999" stroke-dasharray="3 3"/>`);
    g.push(`<text x="${left - 6}" y="${r1(bandY + 4)}" text-anchor="end" fill="#c0392b">${s.counts.crash ? "crash" : "no value"}</text>`);
  }
  g.push(`<line x1="${left}" y1="${axisY}" x2="${right}" y2="${axisY}" stroke="#666"/>`);
  g.push(`<text x="${left + pw / 2}" y="${H - 14}" text-anchor="middle" font-size="13" fill="#222">Experiment #</text>`);
  const goalNote = ` (${goal === "min" ? "lower" : "higher"} is better)`;
  const ylab = fit(info.metric, ph - textWidth(goalNote, 13), 13) + goalNote;
  g.push(`<text x="20" y="${top + ph / 2}" text-anchor="middle" font-size="13" fill="#222" transform="rotate(-90 20 ${top + ph / 2})">${xml(ylab)}</text>`);
  o.push(...g);

  // ---- running best: a step line through the kept values, held to the last experiment
  if (s.trajectory.length) {
    let runBest = s.trajectory[0].row.value;
    let d = `M${r1(X(s.trajectory[0].n))} ${r1(Y(runBest))}`;
    for (const t of s.trajectory.slice(1)) {
      d += `H${r1(X(t.n))}`;
      if (better(t.row.value, runBest, goal)) {
        runBest = t.row.value;
        d += `V${r1(Y(runBest))}`;
      }
    }
    d += `H${r1(X(n))}`;
    o.push(`<path class="running-best" d="${d}" fill="none" stroke="#27ae60" stroke-width="2" stroke-opacity="0.7"/>`);
  }

  // ---- one marker per row: discards under keeps (drawn last), crashes and rows without a value in the band
  const tip = (r: ResultRow, i: number) => (withTitles ? `<title>${xml(`#${i + 1} ${r.commit} ${r.valueText} ${r.status}: ${r.description}`)}</title>` : "");
  const discards: string[] = [];
  const keeps: string[] = [];
  const band: string[] = [];
  let noValue = 0;
  rows.forEach((r, i) => {
    const x = r1(X(i + 1));
    const cls = r.status === "keep" || r.status === "discard" || r.status === "crash" ? r.status : "other";
    if (r.status === "crash") {
      const a = n <= 200 ? 4 : n <= 1000 ? 3 : 2;
      const y = r1(bandY);
      band.push(`<path class="pt crash" d="M${x - a} ${y - a}L${x + a} ${y + a}M${x - a} ${y + a}L${x + a} ${y - a}" stroke="#e74c3c" stroke-width="1.6">${tip(r, i)}</path>`);
    } else if (!hasValue(r)) {
      noValue++;
      band.push(`<circle class="pt ${cls} novalue" cx="${x}" cy="${r1(bandY)}" r="${rd}" fill="none" stroke="#e67e22" stroke-width="1.2">${tip(r, i)}</circle>`);
    }
  });
  for (const m of F.marks) {
    const r = rows[m.i];
    const cls = r.status === "keep" || r.status === "discard" ? r.status : "other";
    if (m.kind === "offscale") {
      // beyond the cut worse edge: a triangle on that edge, pointing off the chart
      const y = goal === "min" ? top + 1 : bottom - 1;
      const dy = goal === "min" ? 7 : -7;
      discards.push(`<path class="pt ${cls} offscale" d="M${m.x} ${y}L${m.x - 4} ${y + dy}L${m.x + 4} ${y + dy}Z" fill="${DISCARD_FILL}">${tip(r, m.i)}</path>`);
      continue;
    }
    const paint = cls === "keep" ? `fill="#2ecc71" stroke="#000" stroke-width="0.5"` : cls === "discard" ? `fill="${DISCARD_FILL}" fill-opacity="${DISCARD_OPACITY}"` : `fill="#ffffff" stroke="#8e44ad" stroke-width="1.2"`;
    (cls === "keep" ? keeps : discards).push(`<circle class="pt ${cls}" cx="${m.x}" cy="${m.y}" r="${cls === "keep" ? rk : rd}" ${paint}>${tip(r, m.i)}</circle>`);
  }
  const offscale = F.marks.filter((m) => m.kind === "offscale").length;
  o.push(`<g class="discards">`, ...discards, `</g>`, `<g class="band">`, ...band, `</g>`, `<g class="keeps">`, ...keeps, `</g>`);

  // ---- labels for kept points. Each twice: a white halo first, so that a label crossing the
  // step line stays readable, then the text. (Not paint-order: renderers without SVG 2 would
  // paint the halo over it.) A label moved off its point's line gets a thin leader to the point.
  const labels = F.labels;
  const labelEl = (cls: string, l: Label) => `<text class="${cls}" x="${r1(l.x)}" y="${r1(l.y)}" text-anchor="${l.anchor}" transform="rotate(${l.rot} ${r1(l.x)} ${r1(l.y)})">${xml(l.text)}</text>`;
  const leaders = labels.filter((l) => l.leader).map((l) => `<line class="leader" x1="${r1(l.leader![0])}" y1="${r1(l.leader![1])}" x2="${r1(l.leader![2])}" y2="${r1(l.leader![3])}"/>`);
  if (leaders.length) o.push(`<g class="leaders" stroke="#1a7a3a" stroke-width="0.8" stroke-opacity="0.7">`, ...leaders, `</g>`);
  o.push(`<g class="label-halos" fill="#fff" stroke="#fff" stroke-width="3" stroke-linejoin="round" stroke-opacity="0.85">`, ...labels.map((l) => labelEl("label-halo", l)), `</g>`);
  o.push(`<g class="labels" fill="#1a7a3a">`, ...labels.map((l) => labelEl("label", l)), `</g>`);

  // ---- legend, above the plot so it never covers a point
  const items: string[] = [];
  let lx = left;
  const ly = 48;
  const item = (sym: string, text: string) => {
    items.push(sym.replace(/@X/g, String(lx + 6)).replace(/@Y/g, String(ly - 4)), `<text x="${lx + 16}" y="${ly}" fill="#333">${xml(text)}</text>`);
    lx += 16 + textWidth(text) + 22;
  };
  item(`<circle cx="@X" cy="@Y" r="5" fill="#2ecc71" stroke="#000" stroke-width="0.5"/>`, `kept (${s.counts.keep})`);
  if (s.counts.discard) item(`<circle cx="@X" cy="@Y" r="4" fill="${DISCARD_FILL}" fill-opacity="${DISCARD_OPACITY}"/>`, `${info.noise ? "discarded or repeat" : "discarded"} (${s.counts.discard})`);
  if (s.counts.crash) item(`<path d="M${lx + 2} ${ly - 8}l8 8m-8 0l8 -8" stroke="#e74c3c" stroke-width="1.6"/>`, `crash (${s.counts.crash})`);
  item(`<path d="M${lx - 2} ${ly - 4}h16" stroke="#27ae60" stroke-width="2" stroke-opacity="0.7"/>`, "running best");
  if (s.counts.other) item(`<circle cx="@X" cy="@Y" r="3.2" fill="#fff" stroke="#8e44ad" stroke-width="1.2"/>`, `other status (${s.counts.other})`);
  if (noValue) item(`<circle cx="@X" cy="@Y" r="3.2" fill="none" stroke="#e67e22" stroke-width="1.2"/>`, `no value (${noValue})`);
  if (offscale) item(`<path d="M${lx + 6} ${ly - 8}l-4 7h8z" fill="${DISCARD_FILL}"/>`, `off scale (${offscale})`);
  const unlabelled = s.trajectory.length - labels.length;
  o.push(`<g class="legend">`, ...items, `</g>`);
  // under the x axis, right-aligned: on the legend's line it would collide with a long legend
  if (unlabelled > 0) o.push(`<text class="unlabelled" x="${right}" y="${H - 14}" text-anchor="end" fill="#777">${unlabelled} kept not labelled (see report.md)</text>`);
  // under the x axis, left-aligned: the honest number (a mean with its standard error), not the luckiest dot
  const nb = info.noise?.best;
  if (nb) o.push(`<text class="noise" x="${left}" y="${H - 14}" fill="#555">${xml(`best ${nb.mean.toFixed(6)}${nb.stderr !== null ? ` ± ${nb.stderr.toFixed(6)}` : ""} (mean of ${nb.n} run${nb.n === 1 ? "" : "s"}), σ ${info.noise!.sigma !== null ? info.noise!.sigma.toFixed(6) : "n/a"}`)}</text>`);
  o.push(`</svg>`, "");
  return o.join("\n");
}

/** min and max without spreading a 10,000-element array into Math.min's arguments */
function minMax(v: number[]): [number, number] {
  let a = Infinity;
  let b = -Infinity;
  for (const x of v) {
    if (x < a) a = x;
    if (x > b) b = x;
  }
  return [a, b];
}

// Advance widths of DejaVu Sans (the first font asked for, and the widest of those named), in em,
// by character class; anything else 0.64 (most lowercase letters and the digits).
const WIDTHS: [RegExp, number][] = [
  [/[ .,:;'|!ijlI]/, 0.32],
  [/[ftr()[\]{}/\\J-]/, 0.4],
  [/[csz_"]/, 0.55],
  [/[ABCEFKLPRSTVXYZ&]/, 0.7],
  [/[DGHNOQU#]/, 0.79],
  [/[\^~+=<>*]/, 0.84],
  [/[mwMW%…]/, 1.0],
];

/** `s` on one line, cut (with "…") to at most `room` px wide, but never below 8 characters. */
function fit(s: string, room: number, size: number): string {
  let max = Math.max(8, Math.min(s.length, Math.ceil(room / (0.32 * size)) + 1)); // no character is narrower than 0.32 em
  let t = sanitizeDescription(s, max);
  while (max > 8 && textWidth(t, size) > room) t = sanitizeDescription(s, --max);
  return t;
}

/** Approximate advance width: no font metrics in a string renderer; wide (CJK, emoji) glyphs count double. */
export function textWidth(s: string, size = FONT): number {
  let w = 0;
  for (const ch of s) w += (ch.codePointAt(0)! >= 0x2e80 ? 1.0 : (WIDTHS.find(([re]) => re.test(ch))?.[1] ?? 0.64)) * size;
  return w;
}

interface Label {
  x: number;
  y: number;
  rot: number;
  anchor: "start" | "end";
  text: string;
  /** x1 y1 x2 y2 of a leader from the point to a label moved off the point's line */
  leader?: [number, number, number, number];
}

/**
 * Places kept-point labels greedily, most important first (the baseline, the best, then the
 * biggest gains), each at the first candidate position that stays inside the plot and overlaps
 * neither an earlier label nor any marker; a label that fits nowhere is left out (report.md lists
 * every keep). All labels share one slant.
 *
 * The first candidate ends at the point, coming from the corner "before and better" than it
 * (below-left for a min goal). That corner is empty by construction: any earlier run there would
 * have beaten the running best and been kept. The next one is karpathy's: starting at the point,
 * rising to the right. Then the same two slid outwards along their own line and moved sideways off
 * it by a line or two of text, least moved first; moved labels get a leader and must keep clear of
 * other kept points (sideways ones of the step line too), so that none reads as another point's.
 * All of it again with the description cut shorter.
 */
function placeLabels(s: Summary, goal: Goal, box: { left: number; right: number; top: number; bottom: number }, f: Frame, rk: number): Label[] {
  const asc = FONT * 0.8;
  const desc = FONT * 0.25;
  const rot = goal === "min" ? -LABEL_ROT : LABEL_ROT;
  const rad = (rot * Math.PI) / 180;
  const u: [number, number] = [Math.cos(rad), Math.sin(rad)]; // along the text
  const v: [number, number] = [-Math.sin(rad), Math.cos(rad)]; // across it, "down" in the text's frame
  const mid = (desc - asc) / 2; // the text's vertical middle, from its baseline
  const gap = rk + 3;
  const line = asc + desc + 2;
  // [distance from the point along the text, across it]
  const moves: [number, number][] = [];
  for (const along of [0, 12, 24, 40]) for (const across of [0, line, -line, 2 * line, -2 * line]) moves.push([gap + along, across]);
  moves.sort((a, b) => a[0] + 2 * Math.abs(a[1]) - (b[0] + 2 * Math.abs(b[1]))); // least moved first
  const grid = new Grid(f.marks);
  const keepsNear = new Grid(f.marks.filter((m) => m.kind === "keep").map((m) => ({ ...m, h: m.h + 6 })));
  // the running best as thin boxes, one per horizontal and vertical stretch
  const steps: Quad[] = [];
  const seg = (x1: number, y1: number, x2: number, y2: number) => steps.push(quad([[Math.min(x1, x2) - 1, Math.min(y1, y2) - 1], [Math.max(x1, x2) + 1, Math.min(y1, y2) - 1], [Math.max(x1, x2) + 1, Math.max(y1, y2) + 1], [Math.min(x1, x2) - 1, Math.max(y1, y2) + 1]]));
  let run = s.trajectory[0]?.row.value;
  s.trajectory.forEach((t, k) => {
    const next = s.trajectory[k + 1];
    const x2 = next ? f.X(next.n) : f.X(f.n);
    seg(f.X(t.n), f.Y(run), x2, f.Y(run));
    if (next && better(next.row.value, run, goal)) {
      seg(x2, f.Y(run), x2, f.Y(next.row.value));
      run = next.row.value;
    }
  });
  const placed: Quad[] = [];
  const out: Label[] = [];
  const bestIdx = s.best ? s.trajectory.findIndex((t) => t.n === s.best!.n) : -1;
  const rank = (i: number) => (i === 0 ? 0 : i === bestIdx ? 1 : 2);
  const order = s.trajectory.map((t, i) => ({ t, i })).sort((a, b) => rank(a.i) - rank(b.i) || (b.t.gain ?? 0) - (a.t.gain ?? 0) || a.i - b.i);
  for (const { t } of order.slice(0, 300)) {
    if (out.length >= MAX_LABELS) break;
    const px = f.X(t.n);
    const py = f.Y(t.row.value);
    const full = sanitizeDescription(t.row.description, LABEL_MAX);
    if (!full) continue;
    const texts = full.length > LABEL_SHORT ? [full, sanitizeDescription(full, LABEL_SHORT)] : [full];
    found: for (const text of texts) {
      const w = textWidth(text);
      for (const [along, across] of moves)
        for (const anchor of ["end", "start"] as const) {
          // the near end of the text's middle line: `along` from the point along the text, `across` off it
          const dir = anchor === "end" ? -1 : 1;
          const nx = px + dir * along * u[0] + across * v[0];
          const ny = py + dir * along * u[1] + across * v[1];
          const ax = nx - mid * v[0];
          const ay = ny - mid * v[1];
          const x0 = anchor === "start" ? 0 : -w;
          const at = (lx: number, ly: number): [number, number] => [ax + lx * u[0] + ly * v[0], ay + lx * u[1] + ly * v[1]];
          const q = quad([at(x0, -asc), at(x0 + w, -asc), at(x0 + w, desc), at(x0, desc)]);
          if (q.bb[0] < box.left + 2 || q.bb[2] > box.right - 2 || q.bb[1] < box.top + 2 || q.bb[3] > box.bottom - 2) continue;
          const spaced = quad([at(x0 - 1, -asc - 1), at(x0 + w + 1, -asc - 1), at(x0 + w + 1, desc + 1), at(x0 - 1, desc + 1)]); // 1 px between labels
          if (placed.some((o) => overlaps(o, spaced)) || grid.hits(q)) continue;
          const moved = along > gap || across !== 0;
          if (moved && keepsNear.hits(q, t.n - 1)) continue;
          if (across !== 0 && steps.some((o) => overlaps(o, q))) continue;
          placed.push(q);
          // a leader from the marker's edge to the label's near end
          const d = Math.hypot(nx - px, ny - py);
          const leader: Label["leader"] = moved ? [px + ((nx - px) / d) * (rk + 1), py + ((ny - py) / d) * (rk + 1), nx, ny] : undefined;
          out.push({ x: ax, y: ay, rot, anchor, text, leader });
          break found;
        }
    }
  }
  return out;
}

/** The markers in square cells, so that a label is tested against the few near it, not all 10,000. */
class Grid {
  private cells = new Map<number, { x: number; y: number; h: number; i: number }[]>();
  private key = (cx: number, cy: number) => (cx + 1024) * 4096 + cy + 1024;
  private readonly size = 32;
  constructor(marks: Frame["marks"]) {
    for (const m of marks) {
      const key = this.key(Math.floor(m.x / this.size), Math.floor(m.y / this.size));
      const list = this.cells.get(key) ?? [];
      list.push({ x: m.x, y: m.y, h: m.h, i: m.i });
      this.cells.set(key, list);
    }
  }
  /** whether label box q (corners in order, as placeLabels makes them) overlaps a marker other than row `skip`'s (0-based) */
  hits(q: Quad, skip = -1): boolean {
    const [p0, p1, , p3] = q.pts;
    const e1 = [p1[0] - p0[0], p1[1] - p0[1]];
    const e2 = [p3[0] - p0[0], p3[1] - p0[1]];
    const l1 = Math.hypot(e1[0], e1[1]) || 1;
    const l2 = Math.hypot(e2[0], e2[1]) || 1;
    const pad = 16; // more than any marker's half-size, inflated ones included
    for (let cx = Math.floor((q.bb[0] - pad) / this.size); cx <= Math.floor((q.bb[2] + pad) / this.size); cx++)
      for (let cy = Math.floor((q.bb[1] - pad) / this.size); cy <= Math.floor((q.bb[3] + pad) / this.size); cy++)
        for (const m of this.cells.get(this.key(cx, cy)) ?? []) {
          if (m.i === skip) continue;
          // the marker's centre in the box's frame: clear beyond the square's corner radius, a hit within its half-size
          const dx = m.x - p0[0];
          const dy = m.y - p0[1];
          const a = (dx * e1[0] + dy * e1[1]) / l1;
          const b = (dx * e2[0] + dy * e2[1]) / l2;
          const d = Math.hypot(Math.max(-a, 0, a - l1), Math.max(-b, 0, b - l2));
          if (d >= m.h * Math.SQRT2) continue;
          if (d < m.h || overlaps(square(m.x, m.y, m.h), q)) return true;
        }
    return false;
  }
}

function square(x: number, y: number, r: number): Quad {
  return quad([[x - r, y - r], [x + r, y - r], [x + r, y + r], [x - r, y + r]]);
}

/** Separating-axis test for two convex quadrilaterals. */
function overlaps(a: Quad, b: Quad): boolean {
  if (a.bb[2] <= b.bb[0] || b.bb[2] <= a.bb[0] || a.bb[3] <= b.bb[1] || b.bb[3] <= a.bb[1]) return false;
  for (const q of [a, b])
    for (let k = 0; k < 2; k++) {
      const [x1, y1] = q.pts[k];
      const [x2, y2] = q.pts[k + 1];
      const nx = y1 - y2;
      const ny = x2 - x1;
      const pa = a.pts.map(([x, y]) => x * nx + y * ny);
      const pb = b.pts.map(([x, y]) => x * nx + y * ny);
      if (Math.max(...pa) <= Math.min(...pb) || Math.max(...pb) <= Math.min(...pa)) return false;
    }
  return true;
}

/**
 * Under the noise rule a kept commit is one point at its mean, where it was first kept; its
 * repeats and a revoked keep's rows are drawn as the runs they were (not kept).
 */
function asKeptChain(rows: ResultRow[], z: NoiseSummary): ResultRow[] {
  const means = new Map(z.lineage.map((k) => [k.commit, k.mean]));
  const base = z.baseline?.commit;
  const seen = new Set<string>();
  return rows.map((r) => {
    if (r.status !== "keep") return r;
    const commit = r.commit === "baseline" && base ? base : r.commit;
    const mean = means.get(commit);
    if (mean === undefined || seen.has(commit)) return { ...r, status: "discard" };
    seen.add(commit);
    return { ...r, value: mean, valueText: mean.toFixed(6) };
  });
}
