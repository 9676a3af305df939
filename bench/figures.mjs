// The figures of the bench: 1–5 of issue #7 (ours vs the shell loop) and 6, start-up. Each returns
// plain data; report.mjs turns it into markdown.
import fs from "node:fs";
import path from "node:path";
import { spawn, execFileSync } from "node:child_process";
import {
  alive,
  callTool,
  CLI,
  fillResults,
  karpathyTrain,
  makeWorkspace,
  memoryOf,
  NO_KILL_S,
  now,
  pidsIn,
  PY,
  removeWorkspace,
  sh,
  shOk,
  shq,
  serverPids,
  sleep,
  startServer,
  WAIT_MS,
  waitUntil,
} from "./lib.mjs";
import { floodTrain, treeTrain } from "./fixtures.mjs";

const HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n";
const GREP = `grep '^val_bpb:\\|^peak_vram_mb:' run.log`;

/** The experiment's edit: a new matrix LR each time (so every commit differs). */
const lrFor = (i) => `MATRIX_LR = ${(0.04 + (i + 1) * 1e-5).toFixed(5)}`;
const LR_OLD = "MATRIX_LR = 0.04 ";

async function withServer(ws, fn, opts) {
  const srv = await startServer(ws, opts);
  try {
    return await fn(srv);
  } finally {
    await srv.close();
  }
}

async function startWithBaseline(srv) {
  await callTool(srv, "start_session", { tag: "bench" });
  await callTool(srv, "run_training");
  await callTool(srv, "log_result", { description: "baseline" });
}

/** read_train → apply_patch → commit → run_training → log_result → reset_to_best; ms per step. */
async function oursCycle(srv, i, extraEdits = []) {
  const t = {};
  const read = await callTool(srv, "read_train");
  t.read = read.ms;
  const edits = [{ old: LR_OLD, new: `${lrFor(i)} ` }, ...extraEdits];
  t.edit = (await callTool(srv, "apply_patch", { edits, expectedHash: read.data.hash })).ms;
  t.commit = (await callTool(srv, "commit", { description: `exp ${i}: ${lrFor(i)}` })).ms;
  const run = await callTool(srv, "run_training");
  if (run.data.proposedStatus !== "discard") throw new Error(`expected a discard, got ${run.text}`);
  t.run = run.ms;
  t.grep = 0;
  t.log = (await callTool(srv, "log_result", { description: `exp ${i}: ${lrFor(i)}` })).ms;
  t.reset = (await callTool(srv, "reset_to_best")).ms;
  t.cycle = t.read + t.edit + t.commit + t.run + t.log + t.reset;
  return { t, elapsedSeconds: run.data.elapsedSeconds };
}

/** The same cycle as an agent's bash tool runs it: one `bash -c` per step. */
async function shellCycle(ws, i, extraSed = "", python = PY.cmd) {
  const t = {};
  t.read = (await shOk("cat train.py", ws)).ms;
  t.edit = (await shOk(`sed -i 's/^${LR_OLD}/${lrFor(i)} /${extraSed}' train.py`, ws)).ms;
  const c = await shOk(`git commit -am ${shq(`exp ${i}: ${lrFor(i)}`)}`, ws);
  t.commit = c.ms;
  const commit = /\[\S+ ([0-9a-f]{7,})\]/.exec(c.stdout)?.[1]?.slice(0, 7) ?? "0000000";
  const run = await shOk(`${python} train.py > run.log 2>&1`, ws);
  t.run = run.ms;
  const g = await shOk(GREP, ws);
  t.grep = g.ms;
  const val = /^val_bpb:\s*(\S+)/m.exec(g.stdout)?.[1] ?? "0.000000";
  t.log = (await shOk(`printf '%s\\t%s\\t%s\\t%s\\t%s\\n' ${commit} ${val} 44.0 discard ${shq(`exp ${i}: ${lrFor(i)}`)} >> results.tsv`, ws)).ms;
  t.reset = (await shOk("git reset --hard HEAD~1", ws)).ms;
  t.cycle = t.read + t.edit + t.commit + t.run + t.grep + t.log + t.reset;
  return { t, runMs: run.ms };
}

/** The training itself: `python3 train.py` spawned directly (no shell, no server), to exit. */
function bareRun(ws, python = PY.cmd) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const c = spawn(python, ["train.py"], { cwd: ws, stdio: "ignore" });
    c.on("error", reject);
    c.on("exit", () => resolve(now() - t0));
  });
}

// ------------------------------------------------------------------ 1. overhead per cycle

export async function figCycle({ cycles, warmup, python = PY.cmd }) {
  const config = { run: [python, "train.py"], python, budgetSeconds: 5, killAfterSeconds: NO_KILL_S, graceSeconds: 1 };
  const wsO = makeWorkspace({ name: "cycle-ours", config });
  const wsS = makeWorkspace({ name: "cycle-shell", config });
  try {
    fs.writeFileSync(path.join(wsS, "results.tsv"), HEADER);
    return await withServer(wsO, async (srv) => {
      await startWithBaseline(srv);
      const ours = [];
      const shell = [];
      const bare = [];
      for (let i = 0; i < warmup + cycles; i++) {
        // Alternate who goes first so neither side always runs on a just-warmed machine.
        let o, s;
        if (i % 2 === 0) {
          o = await oursCycle(srv, i);
          s = await shellCycle(wsS, i, "", python);
        } else {
          s = await shellCycle(wsS, i, "", python);
          o = await oursCycle(srv, i);
        }
        const b = await bareRun(wsS, python);
        if (i >= warmup) {
          ours.push(o.t);
          shell.push(s.t);
          bare.push(b);
        }
      }
      return { python, ours, shell, bare, memory: memoryOf(srv.pid) };
    });
  } finally {
    removeWorkspace(wsO);
    removeWorkspace(wsS);
  }
}

// ------------------------------------------------------------------ 2. what the agent reads

function hyperparameterRange(src) {
  const lines = src.split("\n");
  const start = lines.findIndex((l) => l.startsWith("# Model architecture")) + 1;
  const end = lines.findIndex((l) => l.startsWith("DEVICE_BATCH_SIZE")) + 1;
  return { start, end };
}

export async function figBytes({ rows = 50, steps = 1000 }) {
  const train = karpathyTrain({ steps });
  const config = { run: [PY.cmd, "train.py"], python: PY.cmd, budgetSeconds: 5, killAfterSeconds: NO_KILL_S, graceSeconds: 1 };
  const wsO = makeWorkspace({ name: "bytes-ours", config, train });
  const wsS = makeWorkspace({ name: "bytes-shell", config, train });
  const range = hyperparameterRange(train);
  try {
    return await withServer(wsO, async (srv) => {
      await startWithBaseline(srv);
      const out = { trainBytes: Buffer.byteLength(train), trainLines: train.split("\n").length - 1, rows, steps, range };

      // The skill's loop: the agent read train.py whole once at setup (not counted per experiment)
      // and afterwards asks only for what changed since the last hash it got.
      const setupRead = await callTool(srv, "read_train");
      let lastHash = setupRead.data.hash;
      const oursExperiment = async (label, edit, description) => {
        fillResults(wsO, rows);
        const calls = [];
        const rec = (tool, args, r) => calls.push({ call: `${tool}${args ? " " + JSON.stringify(args) : ""}`, textBytes: r.textBytes, structBytes: r.structBytes });
        rec("status", { rows: 10 }, await callTool(srv, "status", { rows: 10 }));
        const read = await callTool(srv, "read_train", { sinceHash: lastHash });
        rec("read_train", { sinceHash: "<last>" }, read);
        rec("apply_patch", null, await callTool(srv, "apply_patch", { edits: [edit], expectedHash: read.data.hash }));
        rec("commit", null, await callTool(srv, "commit", { description }));
        const run = await callTool(srv, "run_training");
        rec("run_training", null, run);
        rec("log_result", null, await callTool(srv, "log_result", { description }));
        const reset = await callTool(srv, "reset_to_best");
        rec("reset_to_best", null, reset);
        lastHash = reset.data.hash;
        const section = await callTool(srv, "read_train", { startLine: range.start, endLine: range.end });
        return { label, calls, runLogBytes: fs.statSync(path.join(wsO, "run.log")).size, crashed: !!run.data.crashed, section: { textBytes: section.textBytes, structBytes: section.structBytes, readBytes: read.textBytes, readStructBytes: read.structBytes, wholeBytes: setupRead.textBytes } };
      };

      const shellExperiment = async (label, sed, description, crash) => {
        fs.writeFileSync(path.join(wsS, "results.tsv"), HEADER);
        fillResults(wsS, rows);
        const calls = [];
        const rec = (cmd, r) => calls.push({ call: cmd, bytes: r.bytes });
        const step = async (cmd, ok = [0]) => {
          const r = await shOk(cmd, wsS, ok);
          rec(cmd, r);
          return r;
        };
        await step("cat results.tsv");
        await step("cat train.py");
        await step(`sed -i '${sed}' train.py`);
        const c = await step(`git commit -am ${shq(description)}`);
        const commit = /\[\S+ ([0-9a-f]{7,})\]/.exec(c.stdout)?.[1]?.slice(0, 7) ?? "0000000";
        await step(`${PY.cmd} train.py > run.log 2>&1`, crash ? [1] : [0]);
        const g = await step(GREP, crash ? [1] : [0]);
        if (crash) await step("tail -n 50 run.log");
        const val = /^val_bpb:\s*(\S+)/m.exec(g.stdout)?.[1] ?? "0.000000";
        await step(`printf '%s\\t%s\\t%s\\t%s\\t%s\\n' ${commit} ${val} ${crash ? "0.0" : "44.0"} ${crash ? "crash" : "discard"} ${shq(description)} >> results.tsv`);
        await step("git reset --hard HEAD~1");
        const section = await shOk(`sed -n '${range.start},${range.end}p' train.py`, wsS);
        return { label, calls, runLogBytes: fs.statSync(path.join(wsS, "run.log")).size, section: { bytes: section.bytes, readBytes: calls[1].bytes } };
      };

      out.success = {
        ours: await oursExperiment("success", { old: LR_OLD, new: `${lrFor(0)} ` }, "raise matrix LR a little"),
        shell: await shellExperiment("success", `s/^${LR_OLD}/${lrFor(0)} /`, "raise matrix LR a little", false),
      };
      out.crash = {
        ours: await oursExperiment("crash", { old: "DEPTH = 8 ", new: "DEPTH = 12 " }, "deeper model: depth 12"),
        shell: await shellExperiment("crash", "s/^DEPTH = 8 /DEPTH = 12 /", "deeper model: depth 12", true),
      };
      if (!out.crash.ours.crashed) throw new Error("the crash experiment did not crash");
      return out;
    });
  } finally {
    removeWorkspace(wsO);
    removeWorkspace(wsS);
  }
}

// ------------------------------------------------------------------ 3. kill precision

/**
 * Polls the pids a tree prints into `log` until `expected` were seen and all are gone. `finish()`
 * is called once the run is over: the pids it printed are all in the log by then, so a tree that
 * did not print all of them was cut short (goneAt null), and a whole one is waited for (the run
 * ended because the tree is gone: the poll sees it at once, the deadline is only for a hang).
 */
function watchTree(log, expected) {
  let stop = false;
  let pids = [];
  let goneAt = null;
  const done = (async () => {
    while (!stop) {
      if (pids.length < expected) pids = pidsIn(log);
      if (pids.length >= expected && pids.every((p) => !alive(p))) {
        goneAt = Date.now();
        return;
      }
      await sleep(2);
    }
  })();
  return {
    async finish(waitMs = WAIT_MS) {
      if (pids.length < expected) pids = pidsIn(log);
      if (pids.length >= expected) {
        // (a cleared timer: a pending one would keep the bench alive for waitMs after its end)
        let timer;
        await Promise.race([done, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
        clearTimeout(timer);
      }
      stop = true;
      await done;
      return { pids, goneAt };
    },
  };
}

function killPids(pids) {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/**
 * How long the tree (a parent and `children` Pythons) takes to print all its pids on this machine
 * now: started directly, waited for (not given a fixed time), then killed.
 */
async function treeStartupMs(ws, expected) {
  const log = path.join(ws, "startup.log");
  fs.rmSync(log, { force: true });
  const fd = fs.openSync(log, "w");
  const t0 = now();
  const child = spawn(PY.cmd, ["train.py"], { cwd: ws, stdio: ["ignore", fd, fd], detached: true });
  fs.closeSync(fd);
  const up = await waitUntil(() => pidsIn(log).length >= expected, WAIT_MS, 5);
  const ms = now() - t0;
  const pids = pidsIn(log);
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    /* gone */
  }
  killPids(pids);
  await waitUntil(() => pids.every((p) => !alive(p)));
  fs.rmSync(log, { force: true });
  if (!up) throw new Error(`kill figure: the tree of ${expected} Pythons did not print its pids within ${WAIT_MS / 1000} s`);
  return ms;
}

/**
 * The hard limit must find the whole tree up: the figure is "limit → last of its processes gone",
 * and a tree cut short at a limit that came before all its Pythons started measures nothing
 * (n/a). So the limit is the one asked for, or longer where this machine needs longer to start the
 * tree (twice its measured start-up), and doubled and the runs repeated if a run still found the
 * tree incomplete (the machine got busier). The report says when the limit was raised.
 */
export async function figKill({ runs, limit = 1, grace = 0.5, naive = true, children = 4, retries = 3 }) {
  const expected = children + 1;
  const probe = makeWorkspace({ name: "kill-probe", config: null, train: treeTrain(children).replace("HANG = False", "HANG = True") });
  let startupMs;
  try {
    startupMs = await treeStartupMs(probe, expected);
  } finally {
    removeWorkspace(probe);
  }
  let lim = limit;
  while (lim * 1000 < 2 * startupMs) lim *= 2;
  for (let attempt = 0; ; attempt++) {
    const out = await killRuns({ runs, limit: lim, grace, naive, children });
    const cut = [...out.ours, ...out.shell].filter((r) => r.pidsSeen < expected).length + (out.baselineTimedOut ? 1 : 0);
    Object.assign(out, { requestedLimit: limit, startupMs, cutShort: cut, retries: attempt });
    if (!cut || attempt === retries) return out;
    lim *= 2;
  }
}

async function killRuns({ runs, limit, grace, naive, children }) {
  const expected = children + 1;
  const config = { run: [PY.cmd, "train.py"], python: PY.cmd, budgetSeconds: limit / 2, killAfterSeconds: limit, graceSeconds: grace };
  const wsO = makeWorkspace({ name: "kill-ours", config, train: treeTrain(children) });
  const wsS = makeWorkspace({ name: "kill-shell", config, train: treeTrain(children).replace("HANG = False", "HANG = True") });
  const out = { limit, grace, children, ours: [], shell: [], naive: null };
  try {
    await withServer(wsO, async (srv) => {
      await callTool(srv, "start_session", { tag: "bench" });
      const base = await callTool(srv, "run_training");
      await callTool(srv, "log_result", { description: "baseline" });
      // The baseline exits at once, but under the same hard limit: killed there (a machine too
      // slow at this limit to start even one Python), it is a discard and nothing can build on it.
      if (base.data.timedOut) {
        out.baselineTimedOut = true;
        return;
      }
      for (let i = 0; i < runs; i++) {
        await callTool(srv, "apply_patch", { edits: [{ old: "HANG = False", new: "HANG = True" }, { old: "EXPERIMENT = 0", new: `EXPERIMENT = ${i + 1}` }] });
        await callTool(srv, "commit", { description: `hang ${i}` });
        fs.rmSync(path.join(wsO, "run.log"), { force: true });
        const w = watchTree(path.join(wsO, "run.log"), expected);
        const run = await callTool(srv, "run_training");
        const { pids, goneAt } = await w.finish();
        const survivors = pids.filter(alive);
        const rec = JSON.parse(fs.readFileSync(path.join(wsO, ".git", "autoresearch", "run.json"), "utf8"));
        const limitAt = rec.startedAt + limit * 1000;
        out.ours.push({
          killLatencyMs: run.data.killLatencyMs,
          ownLatencyMs: goneAt === null ? NaN : goneAt - limitAt,
          pidsSeen: pids.length,
          orphans: survivors.length,
          timedOut: run.data.timedOut,
          callMs: run.ms,
        });
        killPids(survivors);
        await callTool(srv, "log_result", { description: `hang ${i}` });
        await callTool(srv, "reset_to_best");
      }
    });
    for (let i = 0; i < runs; i++) {
      fs.rmSync(path.join(wsS, "run.log"), { force: true });
      const w = watchTree(path.join(wsS, "run.log"), expected);
      const t0 = Date.now();
      const r = await sh(`timeout -k ${grace} ${limit} ${PY.cmd} train.py > run.log 2>&1`, wsS, { timeoutMs: (limit + grace) * 1000 + WAIT_MS });
      const { pids, goneAt } = await w.finish();
      const survivors = pids.filter(alive);
      out.shell.push({ ownLatencyMs: goneAt === null ? NaN : goneAt - (t0 + limit * 1000), pidsSeen: pids.length, orphans: survivors.length, exit: r.code, callMs: r.ms });
      killPids(survivors);
    }
    if (naive) {
      // As agents usually write it: `timeout <limit>` without -k. SIGTERM is ignored by the tree,
      // so it comes up whole however late: wait for it, then look 2 s after the limit (or now,
      // if starting it took longer than that).
      fs.rmSync(path.join(wsS, "run.log"), { force: true });
      const t0 = Date.now();
      const p = sh(`timeout ${limit} ${PY.cmd} train.py > run.log 2>&1`, wsS, { timeoutMs: (limit + 2) * 1000 + 2 * WAIT_MS });
      await waitUntil(() => pidsIn(path.join(wsS, "run.log")).length >= expected);
      await sleep(Math.max(0, limit * 1000 + 2000 - (Date.now() - t0)));
      const pids = pidsIn(path.join(wsS, "run.log"));
      const survivors = pids.filter(alive);
      out.naive = { pidsSeen: pids.length, aliveAfter2s: survivors.length };
      killPids(pids);
      await p;
    }
    return out;
  } finally {
    removeWorkspace(wsO);
    removeWorkspace(wsS);
  }
}

// ------------------------------------------------------------------ 4. scale

function freeBytes(dir) {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

export async function figScale({ rowSizes, logSizes, reps }) {
  const out = { rows: [], logs: [], during: null, memory: {}, rowSizes, logSizes, reps };
  const config = { run: [PY.cmd, "train.py"], python: PY.cmd, budgetSeconds: 5, killAfterSeconds: NO_KILL_S, graceSeconds: 1 };

  // --- results.tsv rows: log_result, status, parse_metrics at each size
  const wsO = makeWorkspace({ name: "rows-ours", config });
  const wsS = makeWorkspace({ name: "rows-shell", config });
  try {
    await withServer(wsO, async (srv) => {
      await startWithBaseline(srv);
      let i = 0;
      for (const size of rowSizes) {
        fillResults(wsO, size);
        const m = { size, log_result: [], status: [], statusCached: [], parse_metrics: [], shellCat: [], shellCatBytes: 0, shellPrintf: [] };
        for (let k = 0; k < reps; k++, i++) {
          await callTool(srv, "apply_patch", { edits: [{ old: LR_OLD, new: `${lrFor(i)} ` }] });
          await callTool(srv, "commit", { description: `exp ${i}` });
          await callTool(srv, "run_training");
          m.log_result.push((await callTool(srv, "log_result", { description: `exp ${i}` })).ms);
          m.status.push((await callTool(srv, "status")).ms);
          m.statusCached.push((await callTool(srv, "status")).ms);
          m.parse_metrics.push((await callTool(srv, "parse_metrics")).ms);
          await callTool(srv, "reset_to_best");
        }
        fs.writeFileSync(path.join(wsS, "results.tsv"), HEADER);
        fillResults(wsS, size);
        for (let k = 0; k < reps; k++) {
          const c = await shOk("cat results.tsv", wsS);
          m.shellCat.push(c.ms);
          m.shellCatBytes = c.bytes;
          m.shellPrintf.push((await shOk(`printf '%s\\t%s\\t%s\\t%s\\t%s\\n' abc1234 0.997900 44.0 discard ${shq(`exp ${k}`)} >> results.tsv`, wsS)).ms);
        }
        out.rows.push(m);
      }
      out.memory.rows = memoryOf(srv.pid);
    });
  } finally {
    removeWorkspace(wsO);
    removeWorkspace(wsS);
  }

  // --- run.log size: parse_metrics, status, log_result after a run that wrote it (and during)
  const small = logSizes[0];
  const wsL = makeWorkspace({ name: "log-ours", config, train: floodTrain(small, Math.min(10 << 20, Math.floor(small / 10))) });
  try {
    await withServer(wsL, async (srv) => {
      await startWithBaseline(srv);
      let exp = 0;
      for (const size of logSizes) {
        const longLine = Math.min(10 << 20, Math.floor(size / 10));
        const m = { size, longLine, parse_metrics: [], status: [], log_result: [], run: null, shellGrep: [], shellTailBytes: null, shellTailMs: null, actualBytes: 0 };
        const need = size * 1.2 + (512 << 20);
        if (freeBytes(wsL) < need) {
          m.skipped = `only ${(freeBytes(wsL) / 2 ** 30).toFixed(1)} GiB free in ${path.dirname(wsL)}`;
          out.logs.push(m);
          continue;
        }
        const runs = size === small ? reps : 1;
        for (let k = 0; k < runs; k++) {
          exp++;
          const edits = [{ old: /EXPERIMENT = \d+/.exec(fs.readFileSync(path.join(wsL, "train.py"), "utf8"))[0], new: `EXPERIMENT = ${exp}` }];
          if (size !== small) edits.push({ old: `FLOOD_BYTES = ${small}`, new: `FLOOD_BYTES = ${size}` }, { old: `LONG_LINE = ${Math.min(10 << 20, Math.floor(small / 10))}`, new: `LONG_LINE = ${longLine}` });
          await callTool(srv, "apply_patch", { edits });
          await callTool(srv, "commit", { description: `flood ${size}` });
          if (size === small) {
            await callTool(srv, "run_training");
          } else {
            // Start it, then keep the server busy while the flood is written.
            const started = await callTool(srv, "run_training", { waitSeconds: 0 });
            const during = { status: [], parse_metrics: [], samples: 0, hwmMB: 0 };
            const t0 = now();
            for (;;) {
              const st = await callTool(srv, "status");
              during.status.push(st.ms);
              during.parse_metrics.push((await callTool(srv, "parse_metrics")).ms);
              during.samples++;
              if (!st.data.running) break;
              await sleep(100);
            }
            const fin = await callTool(srv, "run_training", { runId: started.data.runId });
            m.run = { elapsedSeconds: fin.data.elapsedSeconds, metric: fin.data.metric, wallMs: now() - t0 };
            during.hwmMB = memoryOf(srv.pid).hwmMB;
            out.during = during;
          }
          m.actualBytes = fs.statSync(path.join(wsL, "run.log")).size;
          for (let r = 0; r < (size === small ? 1 : reps); r++) {
            m.parse_metrics.push((await callTool(srv, "parse_metrics")).ms);
            m.status.push((await callTool(srv, "status")).ms);
          }
          m.log_result.push((await callTool(srv, "log_result", { description: `flood ${size}` })).ms);
          if (k === runs - 1) {
            for (let r = 0; r < Math.min(2, reps); r++) {
              const g = await shOk(GREP, wsL);
              m.shellGrep.push(g.ms);
              m.shellGrepSaw = (g.stdout + g.stderr).trim().replace(/\s+/g, " ").slice(0, 100);
            }
            const t = await shOk("tail -n 50 run.log | wc -c", wsL);
            m.shellTailMs = t.ms;
            m.shellTailBytes = Number(t.stdout.trim());
          }
          await callTool(srv, "reset_to_best");
        }
        if (size !== small) fs.rmSync(path.join(wsL, "run.log"), { force: true });
        out.logs.push(m);
      }
      out.memory.logs = memoryOf(srv.pid);
    });
  } finally {
    removeWorkspace(wsL);
  }
  return out;
}

// ------------------------------------------------------------------ 5. duty cycle

/** Total time two lists of [start, end] windows overlap. */
function overlapMs(a, b) {
  let t = 0;
  for (const [s1, e1] of a) for (const [s2, e2] of b) t += Math.max(0, Math.min(e1, e2) - Math.max(s1, s2));
  return t;
}

/**
 * The two loops run at the same time (the bench must fit in 5 minutes; both loops spend ~95% of
 * their time in a sleeping train.py), the shell loop half a budget behind. The windows where
 * either loop works between runs are recorded, and their overlap is reported.
 */
export async function figDuty({ experiments, budget, concurrent = true }) {
  const config = { run: [PY.cmd, "train.py"], python: PY.cmd, budgetSeconds: budget, killAfterSeconds: NO_KILL_S, graceSeconds: 1 };
  // The committed train.py trains 0 s (a quick baseline); each experiment's edit sets the budget.
  const wsO = makeWorkspace({ name: "duty-ours", config });
  const wsS = makeWorkspace({ name: "duty-shell", config });
  const secs = `BENCH_SECONDS = ${budget.toFixed(1)}`;
  try {
    fs.writeFileSync(path.join(wsS, "results.tsv"), HEADER);
    const srv = await startServer(wsO);
    let oursP, shellP;
    try {
      await startWithBaseline(srv);
      // One loop for both sides: `cycle(i)` runs an experiment and says how long it trained and
      // how long its work after the run took (log, reset; the shell loop also greps).
      const loop = async (cycle) => {
        const t0 = now();
        let train = 0;
        const gaps = [];
        const busy = [];
        let mark = now();
        for (let i = 0; i < experiments; i++) {
          const { c, trainMs, afterRunMs } = await cycle(i);
          const end = now();
          train += trainMs;
          gaps.push(c.t.cycle - trainMs);
          // between-run work: the cycle minus its run step (approximately: before and after it)
          const before = c.t.read + c.t.edit + c.t.commit;
          busy.push([mark, mark + before], [end - afterRunMs, end]);
          mark = end;
        }
        return { wallMs: now() - t0, trainMs: train, gaps, busy };
      };
      const oursLoop = () =>
        loop(async (i) => {
          const c = await oursCycle(srv, i, [{ old: "BENCH_SECONDS = 0.0", new: secs }]);
          return { c, trainMs: c.elapsedSeconds * 1000, afterRunMs: c.t.log + c.t.reset };
        });
      const shellLoop = () =>
        loop(async (i) => {
          const c = await shellCycle(wsS, i, `;s/^BENCH_SECONDS = 0.0/${secs}/`);
          return { c, trainMs: c.runMs, afterRunMs: c.t.grep + c.t.log + c.t.reset };
        });
      if (concurrent) {
        [oursP, shellP] = await Promise.all([oursLoop(), sleep((budget * 1000) / 2).then(shellLoop)]);
      } else {
        oursP = await oursLoop();
        shellP = await shellLoop();
      }
    } finally {
      await srv.close();
    }
    const overlap = overlapMs(oursP.busy, shellP.busy);
    const strip = ({ busy, ...rest }) => ({ ...rest, busyMs: busy.reduce((a, [s, e]) => a + e - s, 0) });
    return { experiments, budget, concurrent, overlapMs: overlap, ours: strip(oursP), shell: strip(shellP) };
  } finally {
    removeWorkspace(wsO);
    removeWorkspace(wsS);
  }
}

/**
 * The interpreter `python` really is (sys.executable), and whether `python` is a wrapper in front
 * of it (a pyenv or asdf shim costs a bash script and several processes per start).
 */
export function resolvePython(python = PY.cmd) {
  try {
    const exe = execFileSync(python, ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
    const onPath = execFileSync("bash", ["-c", `command -v ${python}`], { encoding: "utf8" }).trim();
    return { exe, onPath, wrapper: fs.realpathSync(onPath) !== fs.realpathSync(exe) };
  } catch {
    return { exe: python, onPath: python, wrapper: false };
  }
}

export function versions() {
  const v = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8" }).trim().split("\n")[0];
    } catch {
      return "n/a";
    }
  };
  return { node: process.version, python: v(PY.cmd, ["--version"]), git: v("git", ["--version"]) };
}


// ------------------------------------------------------------------ 6. start-up

const BARE_NODE = [process.execPath, "-e", ""];

/** Spawns `argv` and resolves with ms from spawn to exit (a bare `node -e ""`). */
function timeExit(argv) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(argv[0], argv.slice(1), { stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", () => resolve(now() - t0));
  });
}

/** CPU time (user + system, ms) a live process has used so far; NaN where /proc is missing. */
function cpuMsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * One cold start of the server as a client makes it: spawn, write `initialize` at once, time the
 * answer; then `notifications/initialized` + `tools/list`, time that answer (from the spawn too);
 * then close stdin and wait for the exit. Also reports what the server wrote to stderr.
 */
function timeServerStart(ws, nodeArgs) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, [...nodeArgs, CLI, "serve", "--workspace", ws], { stdio: ["pipe", "pipe", "pipe"] });
    serverPids.add(child.pid);
    const r = { initializeMs: NaN, toolsListMs: NaN, tools: 0, stderr: "" };
    let buf = "";
    const send = (msg) => child.stdin.write(JSON.stringify({ jsonrpc: "2.0", ...msg }) + "\n");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.stderr.on("data", (d) => (r.stderr += d));
    child.stdout.on("data", (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line);
        if (msg.id === 1) {
          r.initializeMs = now() - t0;
          r.initializeCpuMs = cpuMsOf(child.pid);
          send({ method: "notifications/initialized" });
          send({ id: 2, method: "tools/list", params: {} });
        } else if (msg.id === 2) {
          r.toolsListMs = now() - t0;
          r.tools = msg.result?.tools?.length ?? 0;
          child.stdin.end();
        }
      }
    });
    child.on("exit", () => {
      clearTimeout(timer);
      r.exitMs = now() - t0;
      resolve(r);
    });
    send({ id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "0.0.0" } } });
  });
}

/**
 * Figure 6: how long a client waits for `initialize` after starting the server, against a bare
 * `node -e ""` start in the same run (interleaved, the order alternating), p50 over `starts`.
 * Claude Code and Codex begin the first turn without a server that has not answered yet.
 */
export async function figStartup({ starts, warmup = 1, nodeArgs = [] }) {
  const ws = makeWorkspace({ name: "startup" });
  try {
    const bare = [];
    const server = [];
    for (let i = 0; i < warmup + starts; i++) {
      const pair = i % 2 === 0 ? [() => timeExit(BARE_NODE), () => timeServerStart(ws, nodeArgs)] : [() => timeServerStart(ws, nodeArgs), () => timeExit(BARE_NODE)];
      const a = await pair[0]();
      const b = await pair[1]();
      const [b0, s0] = i % 2 === 0 ? [a, b] : [b, a];
      if (i < warmup) continue;
      bare.push(b0);
      server.push(s0);
    }
    return { starts, warmup, bare, server, stderr: server[server.length - 1]?.stderr ?? "" };
  } finally {
    removeWorkspace(ws);
  }
}
