import { sanitizeDescription, type ResultRow } from "../results.js";
import { better, type Goal } from "../rules/policy.js";
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

export function renderSvg(rows: ResultRow[], info: ChartInfo): string {
  const { goal } = info;
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
  let [lo, hi] = plotted.length ? minMax(plotted) : [0, 1];
  const keptValues = s.trajectory.map((t) => t.row.value);
  if (keptValues.length) {
    const [kLo, kHi] = minMax(keptValues);
    const allowance = Math.max(kHi - kLo, Math.abs(goal === "min" ? kHi : kLo) * 0.01);
    if (allowance > 0) {
      // the range ends at the worst value still shown, not at the cut itself
      const shown = plotted.filter((v) => (goal === "min" ? v <= kHi + allowance : v >= kLo - allowance));
      [lo, hi] = minMax(shown);
    }
  }
  if (hi - lo <= 0) {
    const pad = Math.abs(lo) * 0.01 || 0.5;
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
  }

  // ---- layout: title and legend on top, a separate band under the plot for rows with no value
  // (crashes), then the x axis. Crashes never sit inside the value range.
  const hasBand = rows.some((r) => r.status === "crash" || !hasValue(r));
  // y ticks first: the left margin grows with the widest tick label (e.g. 12345.6002), so that it
  // never runs into the rotated axis title at x = 20.
  const yticks: { v: number; text: string }[] = [];
  if (plotted.length) {
    const step = niceStep(hi - lo, 6);
    const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-12; k++) yticks.push({ v: k * step, text: (k * step).toFixed(decimals) });
  }
  const left = Math.max(84, Math.ceil(34 + Math.max(0, ...yticks.map((t) => textWidth(t.text)))));
  const right = W - 28;
  const top = 66;
  const bandH = hasBand ? 26 : 0;
  const axisY = H - 58;
  const bottom = axisY - bandH;
  const bandY = bottom + bandH / 2;
  const pw = right - left;
  const ph = bottom - top;
  const X = (i: number) => left + ((i - 0.5) / n) * pw; // i is 1-based
  const Y = (v: number) => bottom - ((v - lo) / (hi - lo)) * ph;

  // Dots shrink as experiments pile up, so 10,000 of them still read as a cloud, not a smear.
  const rd = n <= 200 ? 3.2 : n <= 1000 ? 2.2 : 1.3;
  const rk = n <= 200 ? 5 : n <= 1000 ? 3.5 : 2.5;
  const withTitles = n <= 2000; // hover tooltips; skipped for huge logs to keep the file small

  const o: string[] = [];
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${FONT}">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  // A long tag is cut so that the title stays inside the picture.
  const counted = `: ${n} experiment${n === 1 ? "" : "s"}, ${s.counts.keep} kept`;
  const tagRoom = Math.floor((W - 40 - textWidth(`autoresearch progress ()${counted}`, 16)) / (0.6 * 16));
  const tagText = info.tag ? sanitizeDescription(info.tag, Math.max(8, tagRoom)) : "";
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
  const ylab = sanitizeDescription(info.metric, Math.max(8, Math.floor((ph - textWidth(goalNote, 13)) / (0.6 * 13)))) + goalNote;
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
  const cut = goal === "min" ? hi : lo; // worse edge of the plot
  const discards: string[] = [];
  const keeps: string[] = [];
  const band: string[] = [];
  let offscale = 0;
  let noValue = 0;
  rows.forEach((r, i) => {
    const x = r1(X(i + 1));
    const cls = r.status === "keep" || r.status === "discard" || r.status === "crash" ? r.status : "other";
    if (r.status === "crash") {
      const a = n <= 200 ? 4 : n <= 1000 ? 3 : 2;
      const y = r1(bandY);
      band.push(`<path class="pt crash" d="M${x - a} ${y - a}L${x + a} ${y + a}M${x - a} ${y + a}L${x + a} ${y - a}" stroke="#e74c3c" stroke-width="1.6">${tip(r, i)}</path>`);
      return;
    }
    if (!hasValue(r)) {
      noValue++;
      band.push(`<circle class="pt ${cls} novalue" cx="${x}" cy="${r1(bandY)}" r="${rd}" fill="none" stroke="#e67e22" stroke-width="1.2">${tip(r, i)}</circle>`);
      return;
    }
    const fill = cls === "keep" ? "#2ecc71" : cls === "discard" ? "#bbbbbb" : "#ffffff";
    const stroke = cls === "keep" ? ` stroke="#000" stroke-width="0.5"` : cls === "other" ? ` stroke="#8e44ad" stroke-width="1.2"` : "";
    if (better(cut, r.value, goal)) {
      // beyond the cut worse edge: a triangle on that edge, pointing off the chart
      offscale++;
      const y = goal === "min" ? top + 1 : bottom - 1;
      const dy = goal === "min" ? 7 : -7;
      discards.push(`<path class="pt ${cls} offscale" d="M${x} ${y}L${x - 4} ${y + dy}L${x + 4} ${y + dy}Z" fill="#999">${tip(r, i)}</path>`);
      return;
    }
    const el = `<circle class="pt ${cls}" cx="${x}" cy="${r1(Y(r.value))}" r="${cls === "keep" ? rk : rd}" fill="${fill}"${stroke}${cls === "discard" ? ` fill-opacity="0.8"` : ""}>${tip(r, i)}</circle>`;
    (cls === "keep" ? keeps : discards).push(el);
  });
  o.push(`<g class="discards">`, ...discards, `</g>`, `<g class="band">`, ...band, `</g>`, `<g class="keeps">`, ...keeps, `</g>`);

  // ---- labels for kept points
  const labels = placeLabels(s, goal, { left, right, top, bottom }, X, Y, rk);
  // Each label twice: a white halo first, so that a label crossing dots or the step line stays
  // readable, then the text. (Not paint-order: renderers without SVG 2 would paint the halo over it.)
  const labelEl = (cls: string, l: Label) => `<text class="${cls}" x="${r1(l.x)}" y="${r1(l.y)}" text-anchor="${l.anchor}"${l.rot ? ` transform="rotate(${l.rot} ${r1(l.x)} ${r1(l.y)})"` : ""}>${xml(l.text)}</text>`;
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
  if (s.counts.discard) item(`<circle cx="@X" cy="@Y" r="3.2" fill="#bbbbbb"/>`, `discarded (${s.counts.discard})`);
  if (s.counts.crash) item(`<path d="M${lx + 2} ${ly - 8}l8 8m-8 0l8 -8" stroke="#e74c3c" stroke-width="1.6"/>`, `crash (${s.counts.crash})`);
  item(`<path d="M${lx - 2} ${ly - 4}h16" stroke="#27ae60" stroke-width="2" stroke-opacity="0.7"/>`, "running best");
  if (s.counts.other) item(`<circle cx="@X" cy="@Y" r="3.2" fill="#fff" stroke="#8e44ad" stroke-width="1.2"/>`, `other status (${s.counts.other})`);
  if (noValue) item(`<circle cx="@X" cy="@Y" r="3.2" fill="none" stroke="#e67e22" stroke-width="1.2"/>`, `no value (${noValue})`);
  if (offscale) item(`<path d="M${lx + 6} ${ly - 8}l-4 7h8z" fill="#999"/>`, `off scale (${offscale})`);
  const unlabelled = s.trajectory.length - labels.length;
  o.push(`<g class="legend">`, ...items, `</g>`);
  // under the x axis, right-aligned: on the legend's line it would collide with a long legend
  if (unlabelled > 0) o.push(`<text class="unlabelled" x="${right}" y="${H - 14}" text-anchor="end" fill="#777">${unlabelled} kept not labelled (see report.md)</text>`);
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

/** Approximate advance width: no font metrics in a string renderer; wide (CJK, emoji) glyphs count double. */
function textWidth(s: string, size = FONT): number {
  let w = 0;
  for (const ch of s) w += (ch.codePointAt(0)! >= 0x2e80 ? 1.0 : 0.6) * size;
  return w;
}

interface Label {
  x: number;
  y: number;
  rot: number;
  anchor: "start" | "end";
  text: string;
}

/**
 * Places kept-point labels greedily, most important first (the baseline, then the biggest gains),
 * each at the first candidate position that stays inside the plot and overlaps neither an earlier
 * label nor a kept dot; a label that fits nowhere is left out (report.md lists every keep).
 *
 * The first candidate runs into the corner "before and better" than the point (below-left for a
 * min goal). That corner is empty by construction: any earlier run there would have beaten the
 * running best and been kept. The next ones are karpathy's up-right slant and its mirror images.
 */
function placeLabels(s: Summary, goal: Goal, box: { left: number; right: number; top: number; bottom: number }, X: (i: number) => number, Y: (v: number) => number, rk: number): Label[] {
  const asc = FONT * 0.8;
  const desc = FONT * 0.25;
  const gap = rk + 2;
  // rot: degrees (SVG, clockwise); attach: the corner of the text box (local, y down) set at p + off
  type Cand = { rot: number; anchor: "start" | "end"; attachY: number; off: [number, number] };
  const downLeft: Cand = { rot: -30, anchor: "end", attachY: -asc, off: [-gap, gap] };
  const upRight: Cand = { rot: -30, anchor: "start", attachY: desc, off: [gap, -gap] };
  const downRight: Cand = { rot: 30, anchor: "start", attachY: -asc, off: [gap, gap] };
  const upLeft: Cand = { rot: 30, anchor: "end", attachY: desc, off: [-gap, -gap] };
  const rightFlat: Cand = { rot: 0, anchor: "start", attachY: (desc - asc) / 2, off: [gap + 1, 0] };
  const leftFlat: Cand = { rot: 0, anchor: "end", attachY: (desc - asc) / 2, off: [-gap - 1, 0] };
  const cands = goal === "min" ? [downLeft, upRight, downRight, upLeft, rightFlat, leftFlat] : [upLeft, downRight, upRight, downLeft, rightFlat, leftFlat];

  const dots: Quad[] = s.trajectory.map((t) => square(X(t.n), Y(t.row.value), rk + 1));
  const placed: Quad[] = [];
  const out: Label[] = [];
  const order = s.trajectory.map((t, i) => ({ t, i })).sort((a, b) => (a.i === 0 ? -1 : b.i === 0 ? 1 : (b.t.gain ?? 0) - (a.t.gain ?? 0)));
  for (const { t, i } of order.slice(0, 300)) {
    if (out.length >= MAX_LABELS) break;
    const px = X(t.n);
    const py = Y(t.row.value);
    const full = sanitizeDescription(t.row.description, LABEL_MAX);
    if (!full) continue;
    const texts = full.length > LABEL_SHORT ? [full, sanitizeDescription(full, LABEL_SHORT)] : [full];
    found: for (const text of texts)
      for (const c of cands) {
        const w = textWidth(text);
        const rad = (c.rot * Math.PI) / 180;
        const cos = Math.cos(rad);
        const sin = Math.sin(rad);
        const rot = (lx: number, ly: number): [number, number] => [lx * cos - ly * sin, lx * sin + ly * cos];
        // anchor so that the attach corner (local x 0, y attachY) lands at p + off
        const [ax0, ay0] = rot(0, c.attachY);
        const ax = px + c.off[0] - ax0;
        const ay = py + c.off[1] - ay0;
        const x0 = c.anchor === "start" ? 0 : -w;
        const q = quad([rot(x0, -asc), rot(x0 + w, -asc), rot(x0 + w, desc), rot(x0, desc)].map(([dx, dy]): [number, number] => [ax + dx, ay + dy]));
        if (q.pts.some(([x, y]) => x < box.left + 2 || x > box.right - 2 || y < box.top + 2 || y > box.bottom - 2)) continue;
        if (placed.some((o) => overlaps(o, q))) continue;
        if (dots.some((d, j) => j !== i && overlaps(d, q))) continue;
        placed.push(q);
        out.push({ x: ax, y: ay, rot: c.rot, anchor: c.anchor, text });
        break found;
      }
  }
  return out;
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
