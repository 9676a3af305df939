// bench/noise-model.mjs: keep-rule variants in a pure model, in seconds (no server; bench/noise.mjs
// drives the real one). A night: the baseline's true value is 1; each candidate is built on the
// best and its truth is the best's truth + N(MU, SD) (most ideas are tiny or slightly worse, as
// in karpathy's night); each run measures truth + N(0, σ). Every rule gets the same number of
// runs (RUNS). Reported per σ and rule: keeps in the final chain, false keeps (a kept step truly
// no better than the one before it), the final best's true value (± its standard error over the
// nights) and the optimism of the value shown for it (its mean minus its truth), in σ.
//   MU=0.0002 SD=0.0004 RUNS=80 NIGHTS=2000 node bench/noise-model.mjs
let seed = 1;
const rnd = () => { seed = (seed * 1664525 + 1013904223) % 4294967296; return seed / 4294967296; };
const gauss = () => { let u = 0; while (!u) u = rnd(); const v = rnd(); return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v); };
const MU = Number(process.env.MU ?? 0.0002), SD = Number(process.env.SD ?? 0.0006), RUNS = Number(process.env.RUNS ?? 60), NIGHTS = Number(process.env.NIGHTS ?? 1000);
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
function pooled(series) { let ss = 0, df = 0; for (const s of series) { if (s.length < 2) continue; const m = mean(s); for (const v of s) ss += (v - m) ** 2; df += s.length - 1; } return df ? Math.sqrt(ss / df) : null; }
function night(sigma, v) {
  const truth = [1.0]; const runs = [[]]; let used = 0;
  const run = (i) => { runs[i].push(truth[i] + sigma * gauss()); used++; };
  for (let b = 0; b < v.baseRuns && used < RUNS; b++) run(0);
  const lineage = [0];
  while (used < RUNS) {
    const best = lineage[lineage.length - 1];
    const c = truth.length; truth.push(truth[best] + MU + SD * gauss()); runs.push([]);
    run(c);
    const s = pooled(runs) ?? 0;
    const mb = mean(runs[best]); const nb = runs[best].length;
    const v1 = runs[c][0];
    if (!(v1 < mb - v.z0 * s * Math.sqrt(1 + 1 / nb))) continue; // not kept
    const clear = v1 < mb - v.z1 * s * Math.sqrt(1 + 1 / nb);
    if (!clear) {
      let k = 0;
      while (k < v.confirm && used < RUNS) { run(c); k++; }
      let s2 = pooled(runs) ?? 0;
      let mc = mean(runs[c]); let nc = runs[c].length;
      while (v.adapt && nc < v.adapt && used < RUNS && Math.abs(mc - mb) < v.adaptZ * s2 * Math.sqrt(1 / nc + 1 / nb)) { run(c); s2 = pooled(runs) ?? 0; mc = mean(runs[c]); nc = runs[c].length; }
      if (!(mc < mb - v.z2 * s2 * Math.sqrt(1 / nc + 1 / nb))) continue; // revoked
    }
    lineage.push(c);
  }
  const best = lineage[lineage.length - 1];
  let fk = 0; for (let i = 1; i < lineage.length; i++) if (truth[lineage[i]] >= truth[lineage[i - 1]]) fk++;
  return { keeps: lineage.length - 1, fk, finalTrue: truth[best], optimism: mean(runs[best]) - truth[best] };
}
const variants = {
  strict: { baseRuns: 1, z0: 0, z1: -Infinity, confirm: 0, z2: 0 },
  "noise (built)": { baseRuns: 2, z0: 0, z1: Infinity, confirm: 1, z2: 0 },
  "confirmRuns 2": { baseRuns: 2, z0: 0, z1: Infinity, confirm: 2, z2: 0 },
  // not built: confirm again while the call is within 1 standard error, up to 3 or 4 runs
  "adaptive to 3": { baseRuns: 2, z0: 0, z1: Infinity, confirm: 1, z2: 0, adapt: 3, adaptZ: 1 },
  "adaptive to 4": { baseRuns: 2, z0: 0, z1: Infinity, confirm: 1, z2: 0, adapt: 4, adaptZ: 1 },
  // not built: a bar of 0.5 standard errors on the confirmation (PR #560's idea, on means)
  "bar 0.5 se": { baseRuns: 2, z0: 0, z1: Infinity, confirm: 1, z2: 0.5 },
};
for (const sigma of [0, 3e-4, 1e-3]) {
  for (const [name, v] of Object.entries(variants)) {
    seed = 7; let K = 0, F = 0, T = 0, O = 0, AO = 0, TT = 0;
    for (let n = 0; n < NIGHTS; n++) { const x = night(sigma, v); K += x.keeps; F += x.fk; T += x.finalTrue; TT += x.finalTrue ** 2; O += x.optimism; AO += Math.abs(x.optimism); }
    console.log(`σ=${sigma} ${name.padEnd(20)} keeps ${(K / NIGHTS).toFixed(2).padStart(5)} falseKeep ${(F / Math.max(K, 1) * 100).toFixed(1).padStart(5)}% finalTrue ${(T / NIGHTS).toFixed(6)}±${(Math.sqrt(TT / NIGHTS - (T / NIGHTS) ** 2) / Math.sqrt(NIGHTS)).toFixed(6)} opt ${(O / NIGHTS).toExponential(2)} |opt|/σ ${sigma ? (AO / NIGHTS / sigma).toFixed(2) : "-"}`);
  }
}
