#!/usr/bin/env node
// A transparent stdio wrapper for an MCP server, for the end-to-end tests of real clients: it
// starts the server, passes stdin, stdout and stderr through unchanged, and appends one JSON line
// per JSON-RPC message to a log, so a test can see what the client sent (clientInfo in
// initialize, _meta.progressToken on tools/call, notifications/cancelled) and when.
//
//   node scripts/mcp-tap.mjs <log.jsonl> <command> [args...]
//
// Records: {t, tap, dir: "start"|"in"|"out"|"exit", ...}; "in" is client -> server, `tap` the tap's
// pid (one per connection: several may share a log). A result with structuredContent records its
// keys, and `answer`: its small fields that say what to do next (due, decision, next, best, noise).
// Signals are passed on to the server; the tap exits with the server's exit code.
import { spawn } from "node:child_process";
import fs from "node:fs";

const [logFile, cmd, ...args] = process.argv.slice(2);
if (!logFile || !cmd) {
  process.stderr.write("usage: node mcp-tap.mjs <log.jsonl> <command> [args...]\n");
  process.exit(2);
}
const fd = fs.openSync(logFile, "a");
const record = (r) => {
  try {
    fs.writeSync(fd, JSON.stringify({ t: Date.now(), tap: process.pid, ...r }) + "\n");
  } catch {}
};

const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
record({ dir: "start", tap: process.pid, server: child.pid, cwd: process.cwd(), argv: [cmd, ...args], envNames: Object.keys(process.env).sort() });

function summary(dir, m) {
  const r = { dir };
  if (m.id !== undefined) r.id = m.id;
  if (m.method) r.method = m.method;
  const p = m.params ?? {};
  if (m.method === "initialize") Object.assign(r, { clientInfo: p.clientInfo, protocolVersion: p.protocolVersion, capabilities: p.capabilities });
  if (m.method === "tools/call") Object.assign(r, { name: p.name, arguments: p.arguments, progressToken: p._meta?.progressToken ?? null });
  if (m.method === "notifications/cancelled") Object.assign(r, { requestId: p.requestId, reason: p.reason });
  if (m.method === "notifications/progress") Object.assign(r, { progress: p.progress, message: p.message });
  if (m.result !== undefined) {
    r.result = true;
    if (m.result?.isError) r.isError = true;
    if (m.result?.serverInfo) r.serverInfo = m.result.serverInfo;
    const sc = m.result?.structuredContent;
    if (sc) {
      r.structured = Object.keys(sc);
      const answer = Object.fromEntries(["due", "decision", "next", "best", "noise"].filter((k) => k in sc).map((k) => [k, sc[k]]));
      if (Object.keys(answer).length) r.answer = answer;
    }
  }
  if (m.error) r.error = m.error;
  return r;
}

/** Passes bytes on untouched and logs each complete line that parses as JSON-RPC. */
function tap(from, to, dir) {
  let buf = "";
  from.on("data", (d) => {
    to.write(d);
    buf += d.toString("utf8");
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      try {
        const m = JSON.parse(line);
        for (const x of Array.isArray(m) ? m : [m]) record(summary(dir, x));
      } catch {
        record({ dir, unparsed: line.slice(0, 200) });
      }
    }
  });
}
tap(process.stdin, child.stdin, "in");
tap(child.stdout, process.stdout, "out");
process.stdin.on("end", () => {
  record({ dir: "stdin-closed" });
  child.stdin.end();
});
child.stdin.on("error", () => {});
process.stdout.on("error", () => {});
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"])
  process.on(sig, () => {
    record({ dir: "signal", signal: sig });
    try {
      child.kill(sig);
    } catch {}
  });
child.on("exit", (code, signal) => {
  record({ dir: "exit", code, signal });
  process.exit(code ?? 1);
});
