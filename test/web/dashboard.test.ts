import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, ok } from "../helpers/client.js";
import { session, useSessions } from "../helpers/session.js";
import { git } from "../helpers/workspace.js";

// The live dashboard's HTTP side against a workspace a real MCP server works on: the page, the
// state it polls (and 204 while nothing changed), the diff of a row, its guards, and that it never
// writes. The page in a real browser: scripts/e2e-dashboard.mjs (Chromium, not part of npm test).

useSessions();
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
});

function start(ws: string, extra: string[] = [], env: Record<string, string> = {}): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [CLI, "dashboard", "--port", "0", "--workspace", ws, ...extra], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    proc.stdout!.on("data", (d) => {
      out += d;
      const url = /at (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ url, proc });
    });
    proc.stderr!.on("data", (d) => (err += d));
    proc.on("exit", (code) => reject(Object.assign(new Error(`exit ${code}: ${err}`), { code, err })));
  });
}

function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; body: string; type: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers["content-type"] ?? "") }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Every file of the workspace with its size and mtime, .git included: what "writes nothing" means. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = fs.statSync(p);
        out.push(`${path.relative(dir, p)} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out.sort();
}

describe("autoresearch-mcp dashboard", () => {
  it("serves the page and the state it polls; 204 while nothing changed; a new row changes it; a row's diff", async () => {
    const { ws, c } = await session({ baseline: true });
    const { url } = await start(ws);
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<table>/);
    const s1 = JSON.parse((await get(`${url}api/state`)).body);
    expect(s1).toMatchObject({ tag: "t", counts: { total: 1, keep: 1 }, totalRows: 1, running: [], sinceLastKeep: 0 });
    expect(s1.rows[0]).toMatchObject({ n: 1, status: "keep", description: "baseline" });
    expect(s1.svg).toMatch(/^<svg/);
    expect((await get(`${url}api/state?since=${encodeURIComponent(s1.version)}`)).status).toBe(204);
    // A run starts: it shows in flight; it ends and is logged: the new row is first.
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] });
    await ok(c, "commit", { description: "lr 0.05" });
    await ok(c, "run_training");
    await ok(c, "log_result", {});
    const s2 = JSON.parse((await get(`${url}api/state?since=${encodeURIComponent(s1.version)}`)).body);
    expect(s2.version).not.toBe(s1.version);
    expect(s2.rows.map((r: { description: string }) => r.description)).toEqual(["lr 0.05", "baseline"]);
    const diff = await get(`${url}api/diff?commit=${s2.rows[0].commit}`);
    expect(diff.status).toBe(200);
    expect(diff.body).toMatch(/\+LR = 0\.05/);
    expect((await get(`${url}api/diff?commit=--output=x`)).status).toBe(404);
    expect((await get(`${url}api/diff?commit=deadbee`)).status).toBe(404);
    expect(JSON.parse((await get(`${url}api/rows`)).body)).toHaveLength(2);
  });

  it("shows a run in flight with its progress line while it runs", async () => {
    const { ws, c } = await session({ baseline: true });
    const { url } = await start(ws);
    const { HOLD_EDIT, release } = await import("../fixtures/scripts.js");
    await ok(c, "apply_patch", { edits: [HOLD_EDIT] });
    await ok(c, "commit", { description: "held" });
    const run = await ok(c, "run_training", { waitSeconds: 0 });
    let running: { runId: string; state: string; latest: string | null }[] = [];
    for (let i = 0; i < 200 && !(running[0]?.latest ?? "").includes("step"); i++) {
      running = JSON.parse((await get(`${url}api/state`)).body).running;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(running[0]).toMatchObject({ runId: run.runId, state: "running" });
    expect(running[0].latest).toMatch(/step 0000\d/);
    release(ws);
    await ok(c, "run_training", { runId: run.runId });
    expect(JSON.parse((await get(`${url}api/state`)).body).running).toEqual([]);
  });

  it("is read-only: it writes nothing in the workspace, answers GET only, and checks Host", async () => {
    const { ws } = await session({ baseline: true });
    const before = snapshot(ws);
    const { url } = await start(ws);
    for (const p of ["", "api/state", "api/rows", "api/diff?commit=abcdef0"]) await get(`${url}${p}`);
    expect((await get(`${url}api/state`, {}, "POST")).status).toBe(405);
    expect((await get(`${url}api/state`, { Host: "evil.example" })).status).toBe(403);
    expect((await get(`${url}nope`)).status).toBe(404);
    expect(snapshot(ws)).toEqual(before);
    expect(git(ws, "status", "--porcelain")).toBe("");
  });

  it("bound to another address it needs the token (?token= or a bearer header)", async () => {
    const { ws } = await session();
    await expect(start(ws, ["--host", "0.0.0.0"], { AUTORESEARCH_MCP_TOKEN: "" })).rejects.toMatchObject({ code: 2, err: expect.stringMatching(/needs a token in AUTORESEARCH_MCP_TOKEN/) });
    const token = "dashboard-token-0123456789";
    const { url } = await start(ws, ["--host", "0.0.0.0"], { AUTORESEARCH_MCP_TOKEN: token });
    const local = url.replace("0.0.0.0", "127.0.0.1");
    expect((await get(`${local}api/state`)).status).toBe(401);
    expect((await get(`${local}api/state?token=wrong`)).status).toBe(401);
    expect((await get(`${local}api/state?token=${token}`)).status).toBe(200);
    expect((await get(`${local}api/state`, { Authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
