import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runNode } from "./helpers/procs.js";
import { MARGIN_MS } from "./helpers/timeouts.js";

// The noise bench (`npm run bench:noise`) is tested for running, not for its figures: the quick
// mode (one night of 12 runs at σ = 3e-4 under each keep rule, through the real server) must exit
// 0, leave no process behind and print the table with a row of numbers for both rules. Which rule
// does better is what the bench measures; no test asserts it.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The quick noise bench takes ~10 s on an idle 2-core machine. */
const BENCH_MS = 240_000;
/** A number as the table prints it: 0.958745, -2.90e-4, 12.5%, 3 (or n/a where nothing was measured). */
const NUM = String.raw`(?:-?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?|n\/a)`;

const runQuick = (out: string) => runNode(["bench/noise.mjs", "--quick", "--out", out], ROOT, BENCH_MS);

describe("bench:noise --quick", () => {
  it("runs a night under each rule and prints the table with numbers for both", { timeout: BENCH_MS + MARGIN_MS }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arbench-noise-test-"));
    const out = path.join(dir, "noise.md");
    try {
      const r = await runQuick(out);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const md = fs.readFileSync(out, "utf8");
      expect(r.stdout).toContain(md.trim());
      expect(md).toMatch(/^\| σ \| rule \| nights \| runs\/night \| keeps in final lineage \| false keeps \| false-keep rate \| false keeps' true cost \/ night \| revoked \|/m);
      // σ, rule, nights, runs/night, keeps, false keeps, rate, their cost, revoked (– for strict), final true, optimism ×3, n
      const row = (rule: string, revoked: string) =>
        new RegExp(String.raw`^\| 3\.00e-4 \| ${rule} \| 1 \| 12 \| \d+ \| \d+ \| ${NUM} \| ${NUM} \| ${revoked} \| 0\.9\d{5} \| ${NUM} \| ${NUM} \| ${NUM} \| ${NUM} \|$`, "m");
      expect(md).toMatch(row("strict", "–"));
      expect(md).toMatch(row("noise", String.raw`\d+`));
      expect(md).toContain("## Goals");
      expect(md).toContain("seed: 20240611");
      expect(md).toContain("processes left behind at the end: none");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
