// Preloaded into the server by bench/profile.mjs (`node --import ./bench/spawn-trace.mjs`): every
// child process the server starts is reported on stderr as one JSON line with the time spawn()
// blocked the event loop (at spawn) and the time from spawn to exit (at exit; a child that outlives
// the server, like a watchdog, has no exit line). Nothing else changes.
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import { performance } from "node:perf_hooks";

const original = childProcess.spawn;
let seq = 0;
childProcess.spawn = function tracedSpawn(file, args, options) {
  const t0 = performance.timeOrigin + performance.now();
  const child = original.apply(this, arguments);
  const t1 = performance.timeOrigin + performance.now();
  const argv = [file, ...(Array.isArray(args) ? args : [])].map(String);
  const id = ++seq;
  process.stderr.write(`@@spawn ${JSON.stringify({ id, argv: argv.map((a) => a.slice(0, 40)), start: t0, blockMs: t1 - t0 })}\n`);
  child.once("exit", () => {
    const t2 = performance.timeOrigin + performance.now();
    process.stderr.write(`@@exit ${JSON.stringify({ id, lifeMs: t2 - t0 })}\n`);
  });
  return child;
};
syncBuiltinESMExports();
