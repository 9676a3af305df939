// Markdown for bench/results.md from the figures' data.
import { fmtBytes, fmtInt, fmtMs, fmtRatio, max, p50, p95, sum, table, tokens } from "./lib.mjs";

const ok = (b) => (b ? "yes" : "**no**");
const col = (rows, key) => rows.map((r) => r[key]);

const CYCLE_STEPS = [
  ["read", "read_train", "cat train.py"],
  ["edit", "apply_patch (+ syntax, import, single-file checks)", "sed -i (edit)"],
  ["commit", "commit (+ checks again)", "git commit -am"],
  ["run", "run_training (+ tree check, parse, proposal)", "python3 train.py > run.log 2>&1"],
  ["grep", "(in run_training)", "grep '^val_bpb:\\|^peak_vram_mb:' run.log"],
  ["log", "log_result (append + fsync)", "printf ... >> results.tsv"],
  ["reset", "reset_to_best", "git reset --hard HEAD~1"],
  ["cycle", "**cycle**", "**cycle**"],
];

function summarizeCycle(c) {
  const o = c.ours;
  const sh = c.shell;
  const bare = p50(c.bare);
  const r = { oursP50: p50(col(o, "cycle")), oursP95: p95(col(o, "cycle")), shellP50: p50(col(sh, "cycle")), shellP95: p95(col(sh, "cycle")), bare };
  r.ratioP50 = r.oursP50 / r.shellP50;
  r.ratioP95 = r.oursP95 / r.shellP95;
  r.overheadRatio = (r.oursP50 - bare) / (r.shellP50 - bare);
  return r;
}

export function summarize(d) {
  const s = {};
  if (d.cycle) s.cycle = summarizeCycle(d.cycle);
  if (d.cycleResolved) s.cycleResolved = summarizeCycle(d.cycleResolved);
  if (d.bytes) {
    const b = d.bytes;
    const tot = (x) => ({ text: sum(col(x.calls, "textBytes")), struct: sum(col(x.calls, "structBytes")), calls: x.calls.length });
    const totS = (x) => ({ bytes: sum(col(x.calls, "bytes")), calls: x.calls.length });
    s.bytes = {};
    for (const k of ["success", "crash"]) {
      const o = tot(b[k].ours);
      const sh = totS(b[k].shell);
      // Variant: both agents re-read the block they edit (read_train with a line range / sed -n)
      // in place of their per-experiment read (ours: sinceHash, the shell: cat train.py).
      const oSection = o.text - b[k].ours.section.readBytes + b[k].ours.section.textBytes;
      const shSection = sh.bytes - b[k].shell.section.readBytes + b[k].shell.section.bytes;
      s.bytes[k] = { ours: o, shell: sh, ratio: o.text / sh.bytes, oursSection: oSection, shellSection: shSection, ratioSection: oSection / shSection };
    }
  }
  if (d.kill) {
    const k = d.kill;
    const graceMs = k.grace * 1000;
    s.kill = {
      oursAfterGraceP50: p50(col(k.ours, "ownLatencyMs")) - graceMs,
      oursAfterGraceMax: max(col(k.ours, "ownLatencyMs")) - graceMs,
      oursServerP50: p50(col(k.ours, "killLatencyMs")),
      oursServerMax: max(col(k.ours, "killLatencyMs")),
      oursOrphans: sum(col(k.ours, "orphans")),
      shellAfterGraceP50: p50(col(k.shell, "ownLatencyMs")) - graceMs,
      shellAfterGraceMax: max(col(k.shell, "ownLatencyMs")) - graceMs,
      shellOrphans: sum(col(k.shell, "orphans")),
    };
  }
  if (d.scale) {
    const sc = d.scale;
    const first = sc.rows[0];
    const last = sc.rows[sc.rows.length - 1];
    const lg = sc.logs.filter((m) => !m.skipped);
    const l0 = lg[0];
    const l1 = lg[lg.length - 1];
    const hwm = Math.max(sc.memory.rows?.hwmMB ?? NaN, sc.memory.logs?.hwmMB ?? NaN, sc.during?.hwmMB ?? NaN);
    s.scale = {
      rowsSmall: first.size,
      rowsBig: last.size,
      statusSmall: p50(first.status),
      statusBig: p50(last.status),
      logSmallMs: p50(first.log_result),
      logBigMs: p50(last.log_result),
      catSmall: p50(first.shellCat),
      catBig: p50(last.shellCat),
      catBytesBig: last.shellCatBytes,
      printfSmall: p50(first.shellPrintf),
      printfBig: p50(last.shellPrintf),
      logSmall: l0?.actualBytes,
      logBig: l1?.actualBytes,
      parseSmall: l0 ? p50(l0.parse_metrics) : NaN,
      parseBig: l1 ? p50(l1.parse_metrics) : NaN,
      grepSmall: l0 ? p50(l0.shellGrep) : NaN,
      grepBig: l1 ? p50(l1.shellGrep) : NaN,
      duringParseP50: sc.during ? p50(sc.during.parse_metrics) : NaN,
      duringParseMax: sc.during ? max(sc.during.parse_metrics) : NaN,
      duringStatusP50: sc.during ? p50(sc.during.status) : NaN,
      duringStatusMax: sc.during ? max(sc.during.status) : NaN,
      hwmMB: hwm,
      hwmBeforeFloodMB: sc.memory.rows?.hwmMB ?? NaN,
    };
  }
  if (d.duty) {
    const du = d.duty;
    s.duty = {
      ours: du.ours.trainMs / du.ours.wallMs,
      shell: du.shell.trainMs / du.shell.wallMs,
      oursGap: p50(du.ours.gaps),
      shellGap: p50(du.shell.gaps),
    };
    s.duty.ratio = s.duty.ours / s.duty.shell;
  }
  if (d.startup) {
    const st = d.startup;
    const srv = (k) => col(st.server, k);
    s.startup = {
      bareP50: p50(st.bare),
      bareP95: p95(st.bare),
      initP50: p50(srv("initializeMs")),
      initP95: p95(srv("initializeMs")),
      toolsP50: p50(srv("toolsListMs")),
      toolsP95: p95(srv("toolsListMs")),
      cpuP50: p50(srv("initializeCpuMs")),
      tools: Math.min(...srv("tools")),
    };
    s.startup.ratio = s.startup.initP50 / s.startup.bareP50;
  }
  return s;
}

export function renderReport(d, meta) {
  const s = summarize(d);
  const L = [];
  L.push(`# Bench: autoresearch-mcp (MCP over stdio) vs the shell loop`);
  L.push("");
  const la = (a) => a.map((x) => x.toFixed(2)).join(" ");
  L.push(`\`${meta.quick ? "node bench/bench.mjs --quick" : "npm run bench"}\` on ${meta.date}: ${meta.cores} cores, load average ${la(meta.loadavg.start)} at the start and ${la(meta.loadavg.end)} at the end, ${meta.versions.node}, ${meta.versions.python} (\`${meta.python.onPath}\`${meta.python.wrapper ? `, a wrapper in front of \`${meta.python.exe}\`` : ""}), ${meta.versions.git}${meta.nodeArgs.length ? `, server node flags \`${meta.nodeArgs.join(" ")}\`` : ""}; ${meta.quick ? "**quick mode (tiny sizes, numbers not meaningful)**" : "full mode"}; the bench took ${(meta.totalMs / 1000).toFixed(1)} s. Ours: the built server (\`${meta.cli ?? "dist/cli.js"} serve\`) driven by the MCP SDK \`Client\` over stdio, as opencode or Claude Code drive it. Shell loop: each step a separate \`bash -c\` process, as an agent's bash tool runs it. Workspaces are fresh git repositories in /tmp, removed afterwards; processes left behind at the end: ${meta.leftovers}.`);
  L.push("");
  L.push("## Summary");
  L.push("");
  const rows = [];
  if (s.cycle) {
    rows.push(["1", "cycle time p50 (train.py exits at once)", fmtMs(s.cycle.oursP50), fmtMs(s.cycle.shellP50), fmtRatio(s.cycle.ratioP50), "ratio ≤ 1.0", ok(s.cycle.ratioP50 <= 1)]);
    rows.push(["1", "cycle time p95", fmtMs(s.cycle.oursP95), fmtMs(s.cycle.shellP95), fmtRatio(s.cycle.ratioP95), "ratio ≤ 1.0", ok(s.cycle.ratioP95 <= 1)]);
  }
  if (s.cycleResolved) {
    rows.push(["1b", `cycle time p50, both sides on \`${d.cycleResolved.python}\` (no ${meta.python.onPath.includes("pyenv") ? "pyenv " : ""}shim)`, fmtMs(s.cycleResolved.oursP50), fmtMs(s.cycleResolved.shellP50), fmtRatio(s.cycleResolved.ratioP50), "ratio ≤ 1.0", ok(s.cycleResolved.ratioP50 <= 1)]);
  }
  if (s.bytes) {
    for (const k of ["success", "crash"]) {
      const b = s.bytes[k];
      rows.push(["2", `bytes read per experiment, ${k}`, `${fmtBytes(b.ours.text)} (~${fmtInt(tokens(b.ours.text))} tok)`, `${fmtBytes(b.shell.bytes)} (~${fmtInt(tokens(b.shell.bytes))} tok)`, fmtRatio(b.ratio), "ratio ≤ 0.33", ok(b.ratio <= 1 / 3)]);
      rows.push(["2", `calls per experiment, ${k}`, String(b.ours.calls), String(b.shell.calls), fmtRatio(b.ours.calls / b.shell.calls), "fewer", ok(b.ours.calls < b.shell.calls)]);
    }
  }
  if (s.kill) {
    rows.push(["3", "limit → tree gone, minus grace, p50 / max", `${fmtMs(s.kill.oursAfterGraceP50)} / ${fmtMs(s.kill.oursAfterGraceMax)}`, `${fmtMs(s.kill.shellAfterGraceP50)} / ${fmtMs(s.kill.shellAfterGraceMax)}`, fmtRatio(s.kill.oursAfterGraceP50 / s.kill.shellAfterGraceP50), "≤ 1 s", ok(s.kill.oursAfterGraceMax <= 1000)]);
    rows.push(["3", "orphans left (all runs)", String(s.kill.oursOrphans), `${s.kill.shellOrphans} (\`timeout -k\`); ${d.kill.naive ? `${d.kill.naive.aliveAfter2s} of ${d.kill.naive.pidsSeen} with plain \`timeout\`` : "plain `timeout` not run"}`, "", "0", ok(s.kill.oursOrphans === 0)]);
  }
  if (s.scale) {
    const sc = s.scale;
    const rr = (a, b) => `${fmtMs(a)} → ${fmtMs(b)} (${fmtRatio(b / a)})`;
    // flat: at most 1.5× or 5 ms slower at the large size (small absolute differences are noise)
    const flat = (a, b) => b <= Math.max(1.5 * a, a + 5);
    rows.push(["4", `status, ${fmtInt(sc.rowsSmall)} → ${fmtInt(sc.rowsBig)} rows`, rr(sc.statusSmall, sc.statusBig), `\`cat results.tsv\` ${rr(sc.catSmall, sc.catBig)}, returns ${fmtBytes(sc.catBytesBig)}`, fmtRatio(sc.statusBig / sc.catBig), "flat", ok(flat(sc.statusSmall, sc.statusBig))]);
    rows.push(["4", `log_result, ${fmtInt(sc.rowsSmall)} → ${fmtInt(sc.rowsBig)} rows`, rr(sc.logSmallMs, sc.logBigMs), `\`printf >>\` ${rr(sc.printfSmall, sc.printfBig)}`, fmtRatio(sc.logBigMs / sc.printfBig), "flat", ok(flat(sc.logSmallMs, sc.logBigMs))]);
    rows.push(["4", `parse_metrics, ${fmtBytes(sc.logSmall)} → ${fmtBytes(sc.logBig)} run.log`, rr(sc.parseSmall, sc.parseBig), `\`grep\` ${rr(sc.grepSmall, sc.grepBig)}`, fmtRatio(sc.parseBig / sc.grepBig), "flat", ok(flat(sc.parseSmall, sc.parseBig))]);
    if (Number.isFinite(sc.duringParseP50))
      rows.push(["4", `while run_training writes the ${fmtBytes(sc.logBig)} log: parse_metrics / status p50 (max)`, `${fmtMs(sc.duringParseP50)} (${fmtMs(sc.duringParseMax)}) / ${fmtMs(sc.duringStatusP50)} (${fmtMs(sc.duringStatusMax)})`, "n/a", "", `flat (vs ${fmtMs(sc.parseSmall)} / ${fmtMs(sc.statusSmall)})`, ok(flat(sc.parseSmall, sc.duringParseP50) && flat(sc.statusSmall, sc.duringStatusP50))]);
    rows.push(["4", "server peak RSS (VmHWM)", `${sc.hwmMB.toFixed(1)} MB (${sc.hwmBeforeFloodMB.toFixed(1)} MB before the flood)`, "n/a", "", "≤ 100 MB", ok(sc.hwmMB <= 100)]);
  }
  if (s.duty) {
    rows.push(["5", `duty cycle, ${d.duty.experiments} × ${d.duty.budget} s`, s.duty.ours.toFixed(4), s.duty.shell.toFixed(4), fmtRatio(s.duty.ratio), "ours ≥ 0.98", ok(s.duty.ours >= 0.98)]);
  }
  if (s.startup) {
    rows.push(["6", "start-up: `initialize` round trip p50 (vs a bare `node -e \"\"`)", fmtMs(s.startup.initP50), `bare node ${fmtMs(s.startup.bareP50)}`, fmtRatio(s.startup.ratio), "ratio ≤ 3", ok(s.startup.ratio <= 3)]);
  }
  L.push(table(["#", "figure", "ours", "shell loop", "ratio ours/shell", "goal", "met"], rows));
  L.push("");

  const cycleSection = (c, sc, title, intro) => {
    L.push(title);
    L.push("");
    L.push(intro);
    L.push("");
    const trs = CYCLE_STEPS.map(([k, on, sn]) => {
      const o = col(c.ours, k);
      const sh = col(c.shell, k);
      const oo = k === "grep" ? "—" : `${fmtMs(p50(o))} / ${fmtMs(p95(o))}`;
      return [on, oo, sn.replace("python3", c.python ?? "python3").replace(/\|/g, "\\|"), `${fmtMs(p50(sh))} / ${fmtMs(p95(sh))}`, k === "grep" ? "" : `${fmtRatio(p50(o) / p50(sh))} / ${fmtRatio(p95(o) / p95(sh))}`];
    });
    L.push(table(["ours: step", "p50 / p95", "shell: step", "p50 / p95", "ratio p50 / p95"], trs));
    L.push("");
    L.push(`The training itself (\`${c.python ?? "python3"} train.py\` spawned directly, no shell, no server): p50 ${fmtMs(sc.bare)}. Cycle minus that: ours ${fmtMs(sc.oursP50 - sc.bare)}, shell ${fmtMs(sc.shellP50 - sc.bare)} (ratio ${fmtRatio(sc.overheadRatio)}). Server RSS after the cycles: ${c.memory.rssMB.toFixed(1)} MB (peak ${c.memory.hwmMB.toFixed(1)} MB).`);
    L.push("");
  };
  if (d.cycle) {
    const c = d.cycle;
    cycleSection(
      c,
      s.cycle,
      `## 1. Overhead per experiment cycle`,
      `${c.ours.length} cycles per side after ${meta.config.cycle.warmup} warm-up, interleaved (ours first on even cycles, the shell first on odd ones). karpathy-sized train.py (${d.bytes?.trainLines ?? "~630"} lines) that prints the summary and exits at once; every experiment is a discard (same val_bpb) followed by a reset. Ours does on the way what the shell loop skips: single-file check (\`git status\`, \`git diff\` against the session base), syntax and import check with Python's parser, dependency policy, dirty-tree and unlogged-run checks, the proposal, an fsync'd append and a mirror copy. Times are client-side, per call (SDK round trip included) and per \`bash -c\` (fork/exec of bash included).`,
    );
  }
  if (d.cycleResolved) {
    const c = d.cycleResolved;
    cycleSection(
      c,
      s.cycleResolved,
      `### 1b. The same, both sides on the real interpreter`,
      `\`${meta.python.onPath}\` on this machine is a wrapper script in front of \`${c.python}\`; every start of it costs extra processes. Here both sides run \`${c.python}\` directly (autoresearch.json \`run\` and \`python\` set to it; the shell calls it by path): ${c.ours.length} cycles per side after ${meta.config.cycleResolved.warmup} warm-up.`,
    );
  }

  if (d.bytes) {
    const b = d.bytes;
    L.push(`## 2. What the agent reads per experiment`);
    L.push("");
    L.push(`train.py: ${b.trainLines} lines, ${fmtBytes(b.trainBytes)}; run.log: ${b.steps} \`\\r\` progress records (${fmtBytes(b.success.shell.runLogBytes)}, one physical line before the summary); results.tsv: ${b.rows} rows. Ours follows the skill's loop (\`status {"rows":10}\` to orient, then \`read_train {"sinceHash":...}\` for what changed, edit, commit, run, log, reset); the shell loop reads results.tsv to orient and \`cat\`s train.py. Ours counts the text content (what opencode shows); structuredContent JSON is listed separately (sent too, shown by clients that render it). tokens ≈ bytes / 4.`);
    L.push("");
    for (const k of ["success", "crash"]) {
      const o = b[k].ours.calls;
      const sh = b[k].shell.calls;
      const n = Math.max(o.length, sh.length);
      const trs = [];
      for (let i = 0; i < n; i++) trs.push([o[i] ? `\`${o[i].call}\`` : "", o[i] ? fmtInt(o[i].textBytes) : "", o[i] ? fmtInt(o[i].structBytes) : "", sh[i] ? `\`${sh[i].call.replace(/\|/g, "\\|").slice(0, 70)}\`` : "", sh[i] ? fmtInt(sh[i].bytes) : ""]);
      const so = s.bytes[k];
      trs.push(["**total**", `**${fmtInt(so.ours.text)}** (~${fmtInt(tokens(so.ours.text))} tok)`, `${fmtInt(so.ours.struct)}`, "**total**", `**${fmtInt(so.shell.bytes)}** (~${fmtInt(tokens(so.shell.bytes))} tok)`]);
      L.push(`**${k === "success" ? "Successful experiment" : "Crash (CUDA OOM after 1,000 steps, with a traceback)"}**: ratio ours/shell ${fmtRatio(so.ratio)} (text), ${so.ours.calls} calls vs ${so.shell.calls}.`);
      L.push("");
      L.push(table(["ours: call", "text bytes", "structured bytes", "shell: command", "bytes"], trs));
      L.push("");
    }
    const sec = b.success.ours.section;
    L.push(`The shell loop re-reads train.py whole every experiment (${fmtInt(b.success.shell.section.readBytes)} B through cat); ours read it whole once at setup (${fmtInt(sec.wholeBytes ?? sec.readBytes)} B, not counted above) and then asks \`read_train {"sinceHash":...}\` for what changed since the last hash it got (${fmtInt(sec.readBytes)} B here: after reset_to_best the file is the version it knows). If both agents instead re-read only the block they edit (lines ${b.range.start}-${b.range.end}, the hyperparameters: \`read_train {"startLine":${b.range.start},"endLine":${b.range.end}}\` ${fmtInt(sec.textBytes)} B vs \`sed -n '${b.range.start},${b.range.end}p' train.py\` ${fmtInt(b.success.shell.section.bytes)} B), a successful experiment costs ${fmtInt(s.bytes.success.oursSection)} B vs ${fmtInt(s.bytes.success.shellSection)} B (${fmtRatio(s.bytes.success.ratioSection)}) and a crash ${fmtInt(s.bytes.crash.oursSection)} B vs ${fmtInt(s.bytes.crash.shellSection)} B (${fmtRatio(s.bytes.crash.ratioSection)}).`);
    L.push("");
  }

  if (d.kill) {
    const k = d.kill;
    L.push(`## 3. Kill precision`);
    L.push("");
    const raised = k.requestedLimit !== undefined && k.requestedLimit !== k.limit ? ` (raised from ${k.requestedLimit} s, as the limit must find the whole tree up: starting it took ${fmtMs(k.startupMs)} on this machine before the runs${k.retries ? `, and the runs were repeated ${k.retries} time(s) with a doubled limit after one found the tree incomplete` : ""})` : "";
    const cut = k.cutShort ? ` In ${k.cutShort} run(s) the limit still came before all ${k.children + 1} processes had started${k.baselineTimedOut ? " (ours: even the baseline run, which exits at once, was killed, so no hanging run could follow it)" : ""}: their "limit → gone" is n/a (not measured), not a failure to kill.` : "";
    L.push(`A parent and ${k.children} children, all ignoring SIGTERM and sleeping; hard limit ${k.limit} s${raised}, grace ${k.grace} s. "Own" latency: from the hard limit (ours: the run's \`startedAt\` in \`.git/autoresearch/run.json\` + limit; shell: the \`bash -c\` spawn + limit) to the moment the bench, polling every ~2 ms, sees the last of the ${k.children + 1} printed pids gone (zombies count as gone). Server latency: \`killLatencyMs\` of the result (first SIGTERM → tree gone, grace included). Shell: \`timeout -k ${k.grace} ${k.limit} python3 train.py > run.log 2>&1\`.${cut}`);
    L.push("");
    const trs = [];
    for (let i = 0; i < Math.max(k.ours.length, k.shell.length); i++) {
      const o = k.ours[i];
      const sh = k.shell[i];
      trs.push([String(i + 1), o ? fmtMs(o.ownLatencyMs) : "", o ? fmtMs(o.killLatencyMs) : "", o ? `${o.orphans} / ${o.pidsSeen}` : "", sh ? fmtMs(sh.ownLatencyMs) : "", sh ? `${sh.orphans} / ${sh.pidsSeen}` : ""]);
    }
    trs.push(["p50", fmtMs(p50(col(k.ours, "ownLatencyMs"))), fmtMs(s.kill.oursServerP50), "", fmtMs(p50(col(k.shell, "ownLatencyMs"))), ""]);
    trs.push(["max", fmtMs(max(col(k.ours, "ownLatencyMs"))), fmtMs(s.kill.oursServerMax), "", fmtMs(max(col(k.shell, "ownLatencyMs"))), ""]);
    L.push(table(["run", "ours: limit → gone", "ours: killLatencyMs", "ours: orphans / pids", "shell: limit → gone", "shell: orphans / pids"], trs));
    L.push("");
    L.push(`After the grace: ours p50 ${fmtMs(s.kill.oursAfterGraceP50)}, max ${fmtMs(s.kill.oursAfterGraceMax)}; shell (\`timeout -k\`) p50 ${fmtMs(s.kill.shellAfterGraceP50)}, max ${fmtMs(s.kill.shellAfterGraceMax)}.${k.naive ? ` With plain \`timeout ${k.limit}\` (no \`-k\`, how the loop is usually written) ${k.naive.aliveAfter2s} of ${k.naive.pidsSeen} processes were still alive 2 s after the limit and the bash call had not returned (the bench killed them).` : ""}`);
    L.push("");
  }

  if (d.scale) {
    const sc = d.scale;
    L.push(`## 4. Scale`);
    L.push("");
    L.push(`p50 of ${sc.reps} calls per point. results.tsv padded with hand-written rows; \`status\` is timed right after \`log_result\` changed the file (re-read) and again (cached). The run.log was written by run_training itself: a training script that floods \\r storms, invalid UTF-8 and NUL bytes in 1 MiB chunks, then a line without newline (${sc.logs.map((m) => fmtBytes(m.longLine)).join(" / ")}), then the summary; the large log is deleted right after.`);
    L.push("");
    const trs = sc.rows.map((m) => [fmtInt(m.size), fmtMs(p50(m.log_result)), fmtMs(p50(m.status)), fmtMs(p50(m.statusCached)), fmtMs(p50(m.parse_metrics)), fmtMs(p50(m.shellCat)), fmtBytes(m.shellCatBytes), fmtMs(p50(m.shellPrintf))]);
    L.push(table(["results.tsv rows", "log_result", "status (after a change)", "status (cached)", "parse_metrics", "shell: cat results.tsv", "bytes cat returns", "shell: printf >>"], trs));
    L.push("");
    const lrs = sc.logs.map((m) =>
      m.skipped
        ? [fmtBytes(m.size), `skipped: ${m.skipped}`, "", "", "", "", ""]
        : [fmtBytes(m.actualBytes), fmtMs(p50(m.parse_metrics)), fmtMs(p50(m.status)), fmtMs(p50(m.log_result)), m.run ? `${m.run.elapsedSeconds} s` : "", `${fmtMs(p50(m.shellGrep))}: "${(m.shellGrepSaw ?? "").replace(/\|/g, "\\|")}"`, `${fmtBytes(m.shellTailBytes)} in ${fmtMs(m.shellTailMs)}`],
    );
    L.push(table(["run.log", "parse_metrics", "status", "log_result", "run (writing it)", "shell: grep (what it returned)", "shell: tail -n 50 returns"], lrs));
    L.push("");
    if (sc.during) L.push(`While the large log was being written: ${sc.during.samples} status + parse_metrics pairs, status p50 ${fmtMs(p50(sc.during.status))} / max ${fmtMs(max(sc.during.status))}, parse_metrics p50 ${fmtMs(p50(sc.during.parse_metrics))} / max ${fmtMs(max(sc.during.parse_metrics))}.`);
    L.push(`Server peak RSS (VmHWM): ${sc.memory.rows?.hwmMB.toFixed(1)} MB after the rows series, ${sc.memory.logs?.hwmMB.toFixed(1)} MB after the log series${sc.during ? ` (${sc.during.hwmMB.toFixed(1)} MB right after the flood)` : ""}.`);
    L.push("");
  }

  if (d.duty) {
    const du = d.duty;
    L.push(`## 5. Duty cycle`);
    L.push("");
    L.push(`${du.experiments} experiments with a ${du.budget} s budget (train.py sleeps ${du.budget} s, then prints the summary), a scripted agent that thinks 0 s, the cycle of figure 1. Ours: training = Σ run_training \`elapsedSeconds\`; shell: Σ wall time of the \`python3 train.py\` step. ${du.concurrent ? `The two loops ran at the same time (the shell loop started half a budget later) to keep the bench under 5 minutes; the windows where both did between-run work overlapped for ${fmtMs(du.overlapMs)} in total (ours worked between runs for ${fmtMs(du.ours.busyMs)}, the shell loop for ${fmtMs(du.shell.busyMs)}).` : "The loops ran one after the other."}`);
    L.push("");
    L.push(
      table(
        ["", "wall time", "training", "duty cycle", "between runs, p50 per cycle"],
        [
          ["ours", fmtMs(du.ours.wallMs), fmtMs(du.ours.trainMs), s.duty.ours.toFixed(4), fmtMs(s.duty.oursGap)],
          ["shell loop", fmtMs(du.shell.wallMs), fmtMs(du.shell.trainMs), s.duty.shell.toFixed(4), fmtMs(s.duty.shellGap)],
        ],
      ),
    );
    L.push("");
  }
  if (d.startup) {
    const st = d.startup;
    const ss = s.startup;
    L.push(`## 6. Start-up`);
    L.push("");
    L.push(`${st.starts} cold starts after ${st.warmup} warm-up, interleaved with as many bare \`node -e ""\` starts (the order alternating). Ours: spawn \`node dist/cli.js serve --workspace <a valid workspace>\`, write \`initialize\` at once, time its answer; then \`notifications/initialized\` and \`tools/list\` (${ss.tools} tools), timed from the spawn too; then stdin closes. Bare: spawn to exit. Claude Code and Codex start the first turn without a server that has not answered \`initialize\` by then. CPU: user + system time the server process had used when the answer arrived (from /proc).`);
    L.push("");
    L.push(
      table(
        ["", "p50", "p95"],
        [
          ['bare `node -e ""`: spawn → exit', fmtMs(ss.bareP50), fmtMs(ss.bareP95)],
          ["server: spawn → `initialize` answered", fmtMs(ss.initP50), fmtMs(ss.initP95)],
          ["server: spawn → `tools/list` answered", fmtMs(ss.toolsP50), fmtMs(ss.toolsP95)],
          ["server: CPU used until `initialize` was answered", fmtMs(ss.cpuP50), ""],
          ["ratio `initialize` / bare node", fmtRatio(ss.ratio), fmtRatio(ss.initP95 / ss.bareP95)],
        ],
      ),
    );
    L.push("");
    if (st.stderr.includes("warning")) L.push(`The server warned on stderr: ${st.stderr.trim().split("\n").filter((l) => l.includes("warning")).join(" / ")}`);
    L.push("");
  }
  if (meta.notes?.length) {
    L.push("## Notes");
    L.push("");
    for (const n of meta.notes) L.push(`- ${n}`);
    L.push("");
  }
  return { markdown: L.join("\n"), summary: s };
}
