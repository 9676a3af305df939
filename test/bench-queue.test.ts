import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runNode } from "./helpers/procs.js";
import { MARGIN_MS } from "./helpers/timeouts.js";

// The queue bench (`npm run bench:queue`, issue #15) is tested for running, not for its timings:
// the quick mode (3 experiments a slot, a 1 s budget, through the real server) must exit 0, leave no
// process behind and write the Figure 7 section with a row for each of the three configurations, each
// with 0 overlaps on one GPU (two runs on one GPU at once is a bug at any speed). Duty, experiments per
// budget, calls per experiment and how many of the 4 GPUs were needed depend on the machine and are
// not asserted.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The quick queue bench takes ~30 s on an idle 2-core machine. */
const BENCH_MS = 300_000;
/** A number as the table prints it (0.985, 5.7 s, 3.00 (45 / 15)), or n/a. */
const NUM = String.raw`(?:\d+(?:\.\d+)?(?: s| \(\d+ \/ \d+\))?|n\/a)`;

const runQuick = (out: string) => runNode(["bench/queue.mjs", "--quick", "--out", out], ROOT, BENCH_MS);

describe("bench:queue --quick", () => {
  it("runs the three configurations and writes the Figure 7 section, 0 overlaps in each", { timeout: BENCH_MS + MARGIN_MS }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arbench-queue-test-"));
    const out = path.join(dir, "results.md");
    // the section goes into the file as the full bench puts it into bench/results.md: the rest stays
    fs.writeFileSync(out, "# bench\n\n## 5. Duty cycle\n\nkept\n\n## Figure 7: experiments in flight\n\nold numbers\n");
    try {
      const r = await runQuick(out);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const md = fs.readFileSync(out, "utf8");
      expect(md.startsWith("# bench\n\n## 5. Duty cycle\n\nkept\n\n## Figure 7: experiments in flight\n")).toBe(true);
      expect(md).not.toContain("old numbers");
      expect(md.match(/^## Figure 7: experiments in flight$/gm)).toHaveLength(1);
      expect(md).toMatch(/^\| configuration \| slots \| in flight \| experiments \| runs \| stale bases re-queued \| wall \(first start → last end\) \| GPU duty per slot \| duty, every slot up \| experiments \/ budget \| tool calls \/ experiment \(steady\) \| overlaps on one GPU \| CUDA ids \|$/m);
      // configuration, slots, in flight, experiments, runs, re-queued, wall, duty ×2, per budget, calls, overlaps (0), CUDA ids
      const row = (label: string, slots: number, ids: string) =>
        new RegExp(String.raw`^\| ${label} \| ${slots} \| \d+ \| \d+ \| \d+ \| \d+ \| ${NUM} \| ${NUM} \| ${NUM} \| ${NUM} \| ${NUM} \| 0 \| ${ids} \|$`, "m");
      expect(md).toMatch(row(String.raw`sequential \(today's loop\)`, 1, "unset"));
      expect(md).toMatch(row("pipelined, 1 slot", 1, "unset"));
      // Which of the 4 GPUs got a run depends on how fast the agent queues against how fast 1 s runs
      // end (a loaded machine may never need the fourth): the ids seen are distinct GPUs of the 4.
      const four = md.match(row("pipelined, 4 slots", 4, "([0-3](?:, [0-3]){0,3})"));
      expect(four, md).not.toBeNull();
      const ids = four![1].split(", ");
      expect(new Set(ids).size).toBe(ids.length);
      expect(md).not.toContain("not supported");
      expect(md).toContain("Processes left behind: none; worktrees, run directories, queue refs and runs in flight at the end of each configuration: none.");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
