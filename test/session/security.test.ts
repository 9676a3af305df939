import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { call, ok, refused, startClient } from "../helpers/client.js";
import { execFileSync } from "node:child_process";
import { session, useSessions } from "../helpers/session.js";
import { git, read } from "../helpers/workspace.js";
import { RUN_LIMIT_S } from "../helpers/timeouts.js";

useSessions();

/** Payloads that would do something if any of them reached a shell, git's option parser or a TSV row. */
function payloads(marker: string): string[] {
  return [
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `; touch ${marker}`,
    `| touch ${marker}`,
    `&& touch ${marker} #`,
    `--upload-pack=touch ${marker}`,
    `-c core.sshCommand=touch ${marker}`,
    `\n[EXP] fake 99 | status:keep\n`,
    `a\tb\tkeep\tinjected`,
    `x\r\ny`,
    "\u0000nul",
    "../../etc/passwd",
    "/etc/passwd",
    "refs/heads/../../x",
    "ｍａｒｋｅｒ\u202egnp.exe",
    "x".repeat(9_000),
  ];
}

describe("the agent cannot choose what is executed, and no input reaches a shell", () => {
  it("injection attempts through every string input run nothing and break no TSV row or ref", async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "ar-sec-"));
    const marker = path.join(parent, "pwned");
    try {
      const { ws, c } = await session({ baseline: true });
      let tried = 0;
      for (const p of payloads(marker)) {
        const attempts: [string, Record<string, unknown>][] = [
          ["start_session", { tag: p }],
          ["start_session", { tag: p, resume: true }],
          ["read_train", { file: p }],
          ["apply_patch", { edits: [{ old: p, new: p }] }],
          ["apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.04" }], expectedHash: p }],
          ["parse_metrics", { log: p }],
          ["run_training", { runId: p }],
          ["commit", { description: p }],
          ["log_result", { description: p }],
        ];
        for (const [name, args] of attempts) {
          const r = await call(c, name, args);
          tried++;
          expect(r.isError, `${name} ${JSON.stringify(args).slice(0, 80)}`).toBe(true);
        }
      }
      // descriptions that do get written: an experiment whose commit and row carry a payload
      const evil = payloads(marker)[0] + "\t" + payloads(marker)[7];
      await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
      const cm = await ok(c, "commit", { description: evil });
      expect(cm.message).not.toMatch(/[\t\n\r]/);
      await ok(c, "run_training");
      await ok(c, "log_result", { description: evil });
      const rows = read(ws, "results.tsv").trimEnd().split("\n");
      expect(rows.length).toBe(3);
      for (const r of rows) expect(r.split("\t").length).toBe(5);
      expect(git(ws, "branch", "--format=%(refname)").trim().split("\n").sort()).toEqual(["refs/heads/autoresearch/t", "refs/heads/master"]);
      expect(fs.existsSync(marker)).toBe(false);
      expect(tried).toBe(payloads(marker).length * 9);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });

  it("a 1 MB description is refused by the schema; the server keeps serving", async () => {
    const { c } = await session({ baseline: true });
    const r = await call(c, "log_result", { description: "x".repeat(1 << 20) });
    expect(r.isError).toBe(true);
    await ok(c, "status");
  });
});

describe("the server writes nowhere outside the workspace", () => {
  it("a whole cycle leaves the workspace's parent directory as it was; only train.py changes in tracked content", async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "ar-out-"));
    const ws = path.join(parent, "ws");
    try {
      fs.mkdirSync(ws);
      for (const f of ["train.py", "prepare.py"]) fs.copyFileSync(new URL(`../fixtures/${f}`, import.meta.url), path.join(ws, f));
      fs.writeFileSync(path.join(ws, "autoresearch.json"), JSON.stringify({ run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: RUN_LIMIT_S }));
      fs.writeFileSync(path.join(ws, ".gitignore"), "__pycache__/\n");
      git(ws, "init", "-q");
      git(ws, "add", "-A");
      git(ws, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init");
      const srv = await startClient(ws);
      try {
        await ok(srv.client, "start_session", { tag: "x" });
        await ok(srv.client, "run_training");
        await ok(srv.client, "log_result", { description: "baseline" });
        // the default noise-aware rule: the baseline's repeat, logged like any run
        await ok(srv.client, "run_training");
        await ok(srv.client, "log_result", { description: "baseline" });
        await ok(srv.client, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.02" }] });
        await ok(srv.client, "commit", { description: "worse" });
        await ok(srv.client, "run_training");
        await ok(srv.client, "log_result", { description: "worse" });
        await ok(srv.client, "reset_to_best");
      } finally {
        await srv.close();
      }
      expect(fs.readdirSync(parent)).toEqual(["ws"]);
      const discarded = read(ws, "results.tsv").trim().split("\n")[3].split("\t")[0];
      expect(git(ws, "diff", "--name-only", "master", discarded).trim()).toBe("train.py");
      // every logged experiment stays reachable for `git show <commit>`, also after the reset
      expect(git(ws, "for-each-ref", "--format=%(refname)", "refs/autoresearch-mcp/").trim()).toContain(`refs/autoresearch-mcp/x/${discarded}`);
      expect(fs.readdirSync(ws).filter((f) => f !== "__pycache__").sort()).toEqual([".git", ".gitignore", "autoresearch.json", "prepare.py", "results.tsv", "run.log", "train.py"]);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("files the server writes are checked before every write", () => {
  it("run.log or results.tsv swapped for a symlink (outside, or to train.py) or a FIFO mid-session: refused, nothing written through it", async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "ar-swap-"));
    try {
      const { ws, c } = await session({ baseline: true });
      const victim = path.join(outside, "victim.txt");
      fs.writeFileSync(victim, "untouched\n");
      const train = read(ws, "train.py");
      await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] });
      await ok(c, "commit", { description: "lr" });
      const trainCommitted = read(ws, "train.py");

      // run.log → a file outside, → train.py, → a FIFO: the run does not start, nothing is written
      for (const swap of [() => fs.symlinkSync(victim, path.join(ws, "run.log")), () => fs.symlinkSync("train.py", path.join(ws, "run.log")), () => execFileSync("mkfifo", [path.join(ws, "run.log")])]) {
        fs.rmSync(path.join(ws, "run.log"), { force: true });
        swap();
        const msg = await refused(c, "run_training");
        expect(msg).toMatch(/run\.log.*(symlink|not a regular file)/);
        expect(msg).toMatch(/\nNext: (Remove|Replace) /);
        // status and parse_metrics answer (no hang on the FIFO), with an error or without the line
        await call(c, "status");
        await call(c, "parse_metrics");
      }
      expect(fs.readFileSync(victim, "utf8")).toBe("untouched\n");
      expect(read(ws, "train.py")).toBe(trainCommitted);
      fs.rmSync(path.join(ws, "run.log"));
      await ok(c, "run_training");

      // results.tsv → a symlink outside: log_result refuses, the victim is untouched; restored, it logs
      const rows = read(ws, "results.tsv");
      fs.renameSync(path.join(ws, "results.tsv"), path.join(outside, "results.keep"));
      fs.symlinkSync(victim, path.join(ws, "results.tsv"));
      expect(await refused(c, "log_result", { description: "lr" })).toMatch(/results\.tsv.*symlink/);
      expect(fs.readFileSync(victim, "utf8")).toBe("untouched\n");
      fs.rmSync(path.join(ws, "results.tsv"));
      fs.renameSync(path.join(outside, "results.keep"), path.join(ws, "results.tsv"));
      await ok(c, "log_result", { description: "lr" });
      expect(read(ws, "results.tsv").startsWith(rows)).toBe(true);
      expect(train).not.toBe(trainCommitted);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("rules around the tools: a train.py committed with plain git is held to what commit checks", () => {
  const attacks: { name: string; from: string; to: string; says: RegExp }[] = [
    { name: "a new dependency (import flash_attn)", from: "import time\n", to: "import time\nimport flash_attn\n", says: /New import "flash_attn"/ },
    { name: "a package install in code", from: "import time\n", to: 'import time\nos.system("pip install flash-attn")\n', says: /runs a package install/ },
    { name: "an import whose name is computed", from: "import time\n", to: 'import time\n__import__("flash" + "_attn")\n', says: /computed at run time/ },
    { name: "a syntax error", from: "LR = 0.04", to: "LR = (0.04", says: /SyntaxError/ },
  ];
  it.each(attacks)("$name: run_training refuses it before anything runs, and so does queueing it", async ({ from, to, says }) => {
    const { ws, c } = await session({ baseline: true });
    const rows = read(ws, "results.tsv");
    fs.writeFileSync(path.join(ws, "train.py"), read(ws, "train.py").replace(from, to));
    git(ws, "commit", "-q", "-am", "t: committed past the tools");
    const head = git(ws, "rev-parse", "--short=7", "HEAD").trim();
    const log = read(ws, "run.log");
    for (const args of [{}, { wait: false }]) {
      const msg = await refused(c, "run_training", args);
      expect(msg).toMatch(new RegExp(`^Refused: ${head} was committed past the tools and breaks a rule that commit checks: `));
      expect(msg).toMatch(says);
      expect(msg).toMatch(/\nNext: Not run\. Fix it with apply_patch and commit \(the same checks\), or reset_to_best\./);
    }
    // Nothing ran: the last run's log and results.tsv are as they were, nothing is in flight.
    expect(read(ws, "run.log")).toBe(log);
    expect(read(ws, "results.tsv")).toBe(rows);
    expect((await ok(c, "status")).inFlight).toEqual([]);
    // The way out the answer names works.
    await ok(c, "reset_to_best");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] });
    await ok(c, "commit", { description: "fine" });
    expect((await ok(c, "run_training")).state).toBe("finished");
  });
});
