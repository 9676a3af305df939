import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CLI } from "./helpers/client.js";
import { runNode, until } from "./helpers/procs.js";
import { makeWorkspace, removeWorkspaces } from "./helpers/workspace.js";
import { CALL_MS, WAIT_MS } from "./helpers/timeouts.js";
import { hostAllowed, parseListen, tokenMatches } from "../src/http.js";

// serve --http through the SDK's own HTTP client, as a laptop reaching a GPU box would: the bearer
// token, Host/Origin (DNS rebinding), the same tools and rules as stdio, one workspace session for
// every client session, and SIGTERM taking the runs with it.

const TOKEN = "t0ken-for-the-test-0123456789";
const procs: ChildProcess[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  removeWorkspaces();
});

async function start(ws: string, env: Record<string, string> = {}): Promise<{ url: string; proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, "serve", "--http", "127.0.0.1:0", "--workspace", ws], { env: { ...process.env, AUTORESEARCH_MCP_TOKEN: TOKEN, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  procs.push(proc);
  let err = "";
  let out = "";
  proc.stderr!.on("data", (d) => (err += d));
  proc.stdout!.on("data", (d) => (out += d));
  await until(() => /at http:\/\/127\.0\.0\.1:\d+\/mcp/.test(err) || proc.exitCode !== null, "the HTTP server to listen", WAIT_MS);
  const url = /at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(err)?.[1];
  if (!url) throw new Error(`the server did not start: ${err}`);
  expect(out).toBe(""); // stdout stays empty: logs go to stderr
  return { url, proc, stderr: () => err };
}

async function connect(url: string, token = TOKEN): Promise<Client> {
  const c = new Client({ name: "http-test", version: "0" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }), { timeout: CALL_MS });
  clients.push(c);
  return c;
}

/** An initialize POST with exactly these headers (node's http: fetch will not send a Host of its own choosing). */
function post(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  const u = new URL(url);
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "0" } } });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", "Content-Length": Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("serve --http", () => {
  it("refuses to start without a token (or with a short one), with how to make one", async () => {
    const ws = makeWorkspace();
    delete process.env.AUTORESEARCH_MCP_TOKEN; // runNode passes this process's environment on
    const none = await runNode([CLI, "serve", "--http", "127.0.0.1:0", "--workspace", ws], ws, CALL_MS);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--http needs a bearer token/);
    const env = { ...process.env, AUTORESEARCH_MCP_TOKEN: "short" };
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, "serve", "--http", "127.0.0.1:0", "--workspace", ws], { env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d) => (err += d));
      p.on("close", (code) => resolve({ code, err }));
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--http needs a bearer token of at least 16 characters in AUTORESEARCH_MCP_TOKEN \(e\.g\. export AUTORESEARCH_MCP_TOKEN=\$\(openssl rand -hex 24\)\)/);
    const bad = await runNode([CLI, "serve", "--http", "localhost:99999", "--workspace", ws], ws, CALL_MS);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--http takes \[HOST:\]PORT/);
  });

  it("401 without the token or with a wrong one; 403 for a Host or Origin that is not this server; 404 off /mcp", async () => {
    const { url } = await start(makeWorkspace());
    const port = new URL(url).port;
    const cases: [Record<string, string>, number][] = [
      [{}, 401],
      [{ Authorization: "Bearer wrong-token-wrong-token" }, 401],
      [{ Authorization: `Basic ${TOKEN}` }, 401],
      [{ Authorization: `Bearer ${TOKEN}`, Host: "evil.example" }, 403],
      [{ Authorization: `Bearer ${TOKEN}`, Host: `evil.example:${port}` }, 403],
      [{ Authorization: `Bearer ${TOKEN}`, Origin: "http://evil.example" }, 403],
      [{ Host: "evil.example" }, 403],
    ];
    for (const [headers, status] of cases) {
      const r = await post(url, headers);
      expect([JSON.stringify(headers), r.status]).toEqual([JSON.stringify(headers), status]);
      if (status === 401) expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
    expect((await post(url.replace("/mcp", "/other"), { Authorization: `Bearer ${TOKEN}` })).status).toBe(404);
    // An SSH tunnel's local port differs from the server's: a loopback name with any port is this machine.
    const tunneled = await post(url, { Authorization: `Bearer ${TOKEN}`, Host: "localhost:9000", Origin: "http://localhost:9000" });
    expect(tunneled.status).toBe(200);
  });

  it("the same tools and rules as stdio, and every client session shares the one workspace session", async () => {
    const ws = makeWorkspace();
    const { url } = await start(ws);
    const a = await connect(url);
    const names = (await a.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["apply_patch", "commit", "log_result", "parse_metrics", "read_train", "reset_to_best", "run_training", "start_session", "status"]);
    const started = (await a.callTool({ name: "start_session", arguments: { tag: "web" } })).structuredContent as Record<string, unknown>;
    expect(started.branch).toBe("autoresearch/web");
    const run = (await a.callTool({ name: "run_training", arguments: {} }, undefined, { timeout: CALL_MS })).structuredContent as Record<string, unknown>;
    expect(run).toMatchObject({ state: "finished", proposedStatus: "keep" });
    // A second laptop session sees the same workspace session and its rules.
    const b = await connect(url);
    const st = (await b.callTool({ name: "status", arguments: {} })).structuredContent as { session: { tag: string }; next: string };
    expect(st.session.tag).toBe("web");
    expect(st.next).toMatch(/^Log the run of [0-9a-f]{7}/);
    const refused = await b.callTool({ name: "apply_patch", arguments: { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] } });
    expect(refused.isError).toBe(true);
    expect((refused.content as { text: string }[])[0].text).toMatch(/^Refused: The run of [0-9a-f]{7} is finished but not logged/);
    expect(((await b.callTool({ name: "log_result", arguments: { description: "baseline" } })).structuredContent as { row: { status: string } }).row.status).toBe("keep");
  });

  it("SIGTERM stops the server and the run it was running", async () => {
    const ws = makeWorkspace({ train: "import time\nprint('pid: ' + str(__import__('os').getpid()), flush=True)\ntime.sleep(600)\n" });
    const { url, proc } = await start(ws);
    const c = await connect(url);
    await c.callTool({ name: "start_session", arguments: { tag: "t" } });
    await c.callTool({ name: "run_training", arguments: { waitSeconds: 0 } });
    const fs = await import("node:fs");
    const path = await import("node:path");
    await until(() => /pid: \d+/.test(fs.readFileSync(path.join(ws, "run.log"), "utf8")), "the run to print its pid");
    const pid = Number(/pid: (\d+)/.exec(fs.readFileSync(path.join(ws, "run.log"), "utf8"))![1]);
    proc.kill("SIGTERM");
    await until(() => proc.exitCode !== null, "the server to exit");
    expect(proc.exitCode).toBe(0);
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, "the run to be gone");
  });
});

describe("http pieces", () => {
  it.each([
    ["8765", { host: "127.0.0.1", port: 8765 }],
    ["0.0.0.0:8765", { host: "0.0.0.0", port: 8765 }],
    ["[::1]:8765", { host: "::1", port: 8765 }],
  ])("parseListen %s", (spec, want) => expect(parseListen(spec)).toEqual(want));
  it.each(["", "x", "host:", ":80", "1:2:3", "99999"])("parseListen refuses %j", (spec) => expect(() => parseListen(spec)).toThrow(/\[HOST:\]PORT/));
  it("hostAllowed: loopback names at any port, the bound address, listed names; nothing else", () => {
    const allowed = new Set(["gpu-box.lan"]);
    expect(hostAllowed({ host: "127.0.0.1:8765" }, allowed)).toBe(true);
    expect(hostAllowed({ host: "localhost:9000", origin: "http://localhost:9000" }, allowed)).toBe(true);
    expect(hostAllowed({ host: "[::1]:8765" }, allowed)).toBe(true);
    expect(hostAllowed({ host: "gpu-box.lan:8765" }, allowed)).toBe(true);
    expect(hostAllowed({ host: "evil.example" }, allowed)).toBe(false);
    expect(hostAllowed({ host: "localhost.evil.example" }, allowed)).toBe(false);
    expect(hostAllowed({ host: "127.0.0.1", origin: "http://evil.example" }, allowed)).toBe(false);
    expect(hostAllowed({ host: "127.0.0.1", origin: "null" }, allowed)).toBe(false);
    expect(hostAllowed({}, allowed)).toBe(false);
  });
  it("tokenMatches: Bearer and the exact token only", () => {
    expect(tokenMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(tokenMatches(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(tokenMatches(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(false);
    expect(tokenMatches(undefined, TOKEN)).toBe(false);
  });
});
