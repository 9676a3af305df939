#!/usr/bin/env node
// `npm run conformance`: the official MCP conformance suite (@modelcontextprotocol/conformance
// 0.1.13, installed on demand into <tmpdir>/autoresearch-e2e, never a dependency of this package)
// against `serve --http` on a temp workspace, natively over our HTTP transport. The scenarios that
// apply to a server without the suite's "everything" fixtures: initialize, ping, logging,
// tools/resources/prompts list, DNS rebinding. The suite sends no bearer token, so it reaches the
// server through a pass-through proxy here that adds one and leaves every other header (Host,
// Origin) as the suite sent it; the suite run straight at the server must fail (401).
//
//   node scripts/conformance.mjs [--verbose]

import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { CACHE, CLI, git } from "./e2e-lib.mjs";

const VERSION = "0.1.13";
const SCENARIOS = ["server-initialize", "ping", "logging-set-level", "tools-list", "resources-list", "prompts-list", "dns-rebinding-protection"];
const verbose = process.argv.includes("--verbose");
const say = (m) => console.log(`[conformance] ${m}`);

function install() {
  const dir = path.join(CACHE, `conformance-${VERSION}`);
  const pkg = path.join(dir, "node_modules", "@modelcontextprotocol", "conformance");
  const have = fs.existsSync(path.join(pkg, "package.json")) && JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version === VERSION;
  if (!have) {
    say(`installing @modelcontextprotocol/conformance@${VERSION} into ${dir}`);
    fs.mkdirSync(dir, { recursive: true });
    const r = spawnSync("npm", ["install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", `@modelcontextprotocol/conformance@${VERSION}`], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`npm install failed: ${r.stderr.trim()}`);
  }
  return path.join(pkg, "dist", "index.js");
}

function workspace() {
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ar-conformance-")));
  const fixtures = new URL("../test/fixtures/", import.meta.url);
  for (const f of ["train.py", "prepare.py"]) fs.copyFileSync(new URL(f, fixtures), path.join(ws, f));
  fs.writeFileSync(path.join(ws, "autoresearch.json"), JSON.stringify({ run: ["python3", "train.py"], budgetSeconds: 5 }));
  git(ws, "init", "-q");
  git(ws, "config", "user.name", "conformance");
  git(ws, "config", "user.email", "conformance@example.invalid");
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", "conformance workspace");
  return ws;
}

function startServer(ws, token) {
  const proc = spawn(process.execPath, [CLI, "serve", "--http", "127.0.0.1:0", "--workspace", ws], { env: { ...process.env, AUTORESEARCH_MCP_TOKEN: token }, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let err = "";
    proc.stderr.on("data", (d) => {
      err += d;
      const url = /at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(err)?.[1];
      if (url) resolve({ proc, url });
    });
    proc.on("exit", (code) => reject(new Error(`the server exited (${code}): ${err}`)));
  });
}

/** A pass-through proxy that adds the bearer token; Host and Origin reach the server as sent. */
function authProxy(target, token) {
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, authorization: `Bearer ${token}` } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://localhost:${server.address().port}/mcp` })));
}

/** One scenario in a child process (async: the proxy runs in this one). */
function scenario(suite, url, name) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [suite, "server", "--url", url, "--scenario", name], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), 120_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      out = out.replace(/\x1b\[[0-9;]*m/g, "");
      const passed = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(out);
      resolve({ ok: code === 0 && !!passed && passed[3] === "0", summary: passed ? passed[0] : out.trim().split("\n").at(-1), out });
    });
  });
}

const results = [];
let ws = null;
let srv = null;
let proxy = null;
try {
  const suite = install();
  ws = workspace();
  const token = crypto.randomBytes(24).toString("hex");
  srv = await startServer(ws, token);
  proxy = await authProxy(srv.url, token);
  say(`server ${srv.url}; the suite through ${proxy.url}`);
  for (const name of SCENARIOS) {
    const r = await scenario(suite, proxy.url, name);
    results.push({ name, ...r });
    console.log(`${r.ok ? "ok  " : "FAIL"} ${name}: ${r.summary}`);
    if (verbose || !r.ok) console.log(r.out.replace(/^/gm, "    "));
  }
  const direct = await scenario(suite, srv.url, "server-initialize");
  const refused = !direct.ok && /401|Unauthorized/i.test(direct.out);
  results.push({ name: "without the token: refused", ok: refused });
  console.log(`${refused ? "ok  " : "FAIL"} the suite straight at the server (no token) is refused: ${refused ? "401" : direct.summary}`);
} catch (e) {
  results.push({ name: "ran to the end", ok: false });
  console.log(`FAIL ${e instanceof Error ? e.message : String(e)}`);
} finally {
  srv?.proc.kill("SIGTERM");
  proxy?.server.close();
  if (srv) await new Promise((r) => (srv.proc.exitCode !== null ? r() : srv.proc.on("exit", r)));
  if (ws) fs.rmSync(ws, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok);
console.log(`${failed.length ? "FAIL" : "PASS"} conformance — ${results.length - failed.length}/${results.length} (@modelcontextprotocol/conformance ${VERSION}, scenarios: ${SCENARIOS.join(", ")})`);
process.exit(failed.length ? 1 : 0);
