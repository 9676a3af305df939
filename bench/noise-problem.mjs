// bench/noise-problem.mjs: the simulated problem of the noise bench, one definition for the bench
// that drives the real server (noise.mjs) and the pure model of keep rules (noise-model.mjs).
import { rngOf } from "./lib.mjs";

export { rngOf };

/**
 * The knobs of train.py and the truth: val_bpb = FLOOR + Σ w·u², u = ln(x/opt) for the
 * multiplicative knobs and (x − opt)/unit for the additive ones. The start is ~0.0106 above the
 * floor; BETA2 starts at its optimum (every move of it hurts, most by far less than σ). From the
 * start about a third of the proposals below truly help, a third change the truth by less than
 * 3e-4, a third hurt; near the optimum most are tiny or hurt, which is where false keeps come from.
 */
export const FLOOR = 0.95;
export const KNOBS = [
  { name: "LR", start: 0.04, opt: 0.055, log: true, w: 0.04 },
  { name: "WD", start: 0.2, opt: 0.12, log: true, w: 0.008 },
  { name: "WARMUP", start: 0.05, opt: 0.02, log: false, unit: 0.05, w: 0.004, min: 0.0001 },
  { name: "DEPTH_SCALE", start: 1.0, opt: 1.25, log: true, w: 0.06 },
  { name: "BETA2", start: 0.95, opt: 0.95, log: false, unit: 0.05, w: 0.002, max: 0.999 },
];
/** The knobs as train.py writes them: `NAME = 0.0400`. */
export const fmtKnob = (v) => v.toFixed(4);
export const knobLine = (k, v) => `${k.name} = ${fmtKnob(v)}`;

export function truthOf(values) {
  let t = FLOOR;
  KNOBS.forEach((k, i) => {
    const u = k.log ? Math.log(values[i] / k.opt) : (values[i] - k.opt) / k.unit;
    t += k.w * u * u;
  });
  return t;
}

export function knobsOf(src) {
  return KNOBS.map((k) => {
    const m = new RegExp(`^${k.name} = ([0-9.]+)$`, "m").exec(src);
    if (!m) throw new Error(`train.py has no line "${k.name} = <number>"`);
    return Number(m[1]);
  });
}

export const START = KNOBS.map((k) => Number(fmtKnob(k.start)));
export const START_TRUTH = truthOf(START);

/** Step sizes (in u units: a factor e^±step, or ±step·unit) log-uniform in [STEP_MIN, STEP_MAX]. */
export const STEP_MIN = 0.02;
export const STEP_MAX = 0.5;

/** One idea: a knob, a direction and a size. Never a content this night already ran. */
export function proposeIdea(rng, src, ran) {
  const values = knobsOf(src);
  for (let tries = 0; tries < 1000; tries++) {
    const i = Math.floor(rng() * KNOBS.length);
    const k = KNOBS[i];
    const step = Math.exp(Math.log(STEP_MIN) + rng() * (Math.log(STEP_MAX) - Math.log(STEP_MIN)));
    const sign = rng() < 0.5 ? -1 : 1;
    let v = k.log ? values[i] * Math.exp(sign * step) : values[i] + sign * step * k.unit;
    if (k.min !== undefined) v = Math.max(k.min, v);
    if (k.max !== undefined) v = Math.min(k.max, v);
    const oldLine = knobLine(k, values[i]);
    const newLine = knobLine(k, v);
    if (newLine === oldLine) continue;
    const next = src.replace(oldLine, newLine);
    if (ran.has(next)) continue;
    const verb = sign > 0 ? "raise" : "lower";
    return { oldLine, newLine, next, description: `${verb} ${k.name} to ${fmtKnob(v)} (from ${fmtKnob(values[i])})` };
  }
  throw new Error("no new idea in 1000 draws");
}
