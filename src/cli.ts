#!/usr/bin/env node
import path from "node:path";
import v8 from "node:v8";
import { ProtocolRefusal } from "./errors.js";
import { VERSION } from "./version.js";

// Only node built-ins and two tiny modules are imported statically: V8 flags set in serve() apply
// to code compiled after them, so the server, the SDK and zod are loaded with import() after.

const USAGE = `autoresearch-mcp ${VERSION}
Usage:
  autoresearch-mcp [serve] [--workspace DIR]     MCP server over stdio (default; DIR defaults to the current directory)
  autoresearch-mcp serve --http [HOST:]PORT [--workspace DIR]
                                                 Streamable HTTP at /mcp (127.0.0.1 by default); needs AUTORESEARCH_MCP_TOKEN
  autoresearch-mcp init [DIR] [--force]          install the skill and register the server for opencode, Claude Code and Codex
                                                 (DIR must hold train.py, the editable file, unless --force)
  autoresearch-mcp demo [--keep DIR] [--budget S] [--experiments N]
                                                 run the whole loop on the built-in example workspace
  autoresearch-mcp status [--workspace DIR]      print the session dashboard
  autoresearch-mcp dashboard [--workspace DIR] [--port N] [--host H]
                                                 a live, read-only web page of the night (127.0.0.1:8780 by default)
  autoresearch-mcp report [--workspace DIR]      write report.md and progress.svg from results.tsv and git
  autoresearch-mcp help | -h | --help            this text
  autoresearch-mcp -v | --version                the version
`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) fail(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

function flag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function fail(msg: string): never {
  process.stderr.write(`autoresearch-mcp: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

async function serve(workspace: string) {
  // Memory (bench figure 4, goal: peak RSS under 100 MB). The server mostly waits, so speed of
  // generated code matters little. After a few busy seconds V8 grows the young generation to two
  // 16 MB semi-spaces that then stay resident: a growth factor of 1 keeps it at its initial size
  // (read at each resize, so it works when set at run time; --max-semi-space-size does not).
  // --optimize-for-size trims code and heap for what is compiled after it: the modules below.
  v8.setFlagsFromString("--semi-space-growth-factor=1");
  v8.setFlagsFromString("--optimize-for-size");
  const { createServer } = await import("./server.js");
  const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
  const progressIntervalMs = process.env.AUTORESEARCH_PROGRESS_MS ? Number(process.env.AUTORESEARCH_PROGRESS_MS) : undefined;
  const { server, close } = createServer({ workspace, progressIntervalMs });
  let closing = false;
  // Stdout carries JSON-RPC only; everything else goes to stderr.
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`[autoresearch-mcp] shutting down (${why})\n`);
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await close().catch(() => undefined);
    process.exit(0);
  };
  // The SDK's stdio transport does not watch for stdin closing; a client that goes away must
  // still take the training tree with it.
  process.stdin.on("end", () => void shutdown("stdin closed"));
  process.stdin.on("close", () => void shutdown("stdin closed"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGHUP", () => void shutdown("SIGHUP"));
  // The workspace check waits until the client has its answer to initialize (the notification
  // that follows it), or a second at most: nothing may delay initialize.
  let checked = false;
  const check = () => {
    if (checked) return;
    checked = true;
    void warnAboutWorkspace(workspace);
  };
  server.server.oninitialized = check;
  setTimeout(check, 1000).unref();
  await server.connect(new StdioServerTransport());
  process.stderr.write(`[autoresearch-mcp] ${VERSION} serving ${workspace}\n`);
}

/** serve --http: refuses to start without a token; SIGTERM/SIGINT stop the runs and the listener. */
async function serveOverHttp(workspace: string, listen: string) {
  const { MIN_TOKEN_LENGTH, allowedHostsFromEnv, parseListen, serveHttp } = await import("./http.js");
  let where: { host: string; port: number };
  try {
    where = parseListen(listen);
  } catch (e) {
    fail((e as Error).message);
  }
  const token = process.env.AUTORESEARCH_MCP_TOKEN ?? "";
  if (token.length < MIN_TOKEN_LENGTH)
    fail(`--http needs a bearer token of at least ${MIN_TOKEN_LENGTH} characters in AUTORESEARCH_MCP_TOKEN (e.g. export AUTORESEARCH_MCP_TOKEN=$(openssl rand -hex 24)); the server does not start without one`);
  const allowedHosts = allowedHostsFromEnv();
  const progressIntervalMs = process.env.AUTORESEARCH_PROGRESS_MS ? Number(process.env.AUTORESEARCH_PROGRESS_MS) : undefined;
  let srv: Awaited<ReturnType<typeof serveHttp>>;
  try {
    srv = await serveHttp({ workspace, ...where, token, allowedHosts, progressIntervalMs });
  } catch (e) {
    fail(`cannot listen on ${listen}: ${(e as Error).message}`);
  }
  let closing = false;
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`[autoresearch-mcp] shutting down (${why})\n`);
    setTimeout(() => process.exit(1), 15_000).unref();
    await srv.close().catch(() => undefined);
    process.exit(0);
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => void shutdown(sig));
  process.stderr.write(`[autoresearch-mcp] ${VERSION} serving ${workspace} at ${srv.url}\n`);
  void warnAboutWorkspace(workspace);
}

async function warnAboutWorkspace(workspace: string) {
  try {
    const { workspaceProblems } = await import("./preflight.js");
    const problems = await workspaceProblems(workspace);
    for (const p of problems) process.stderr.write(`[autoresearch-mcp] warning: ${p}\n`);
    process.stderr.write(problems.length ? `[autoresearch-mcp] the server keeps running; its tools refuse with the reason until this is fixed\n` : `[autoresearch-mcp] workspace check: ok\n`);
  } catch (e) {
    process.stderr.write(`[autoresearch-mcp] warning: could not check the workspace: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "help" || args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return;
  }
  if (args.includes("--version") || args.includes("-v")) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const cmd = args[0] && !args[0].startsWith("--") ? args.shift()! : "serve";
  switch (cmd) {
    case "serve": {
      const ws = path.resolve(option(args, "--workspace") ?? process.cwd());
      const listen = option(args, "--http");
      if (args.length) fail(`unexpected argument ${args[0]}`);
      return listen === undefined ? serve(ws) : serveOverHttp(ws, listen);
    }
    case "status": {
      const ws = path.resolve(option(args, "--workspace") ?? process.cwd());
      if (args.length) fail(`unexpected argument ${args[0]}`);
      const { Session } = await import("./session/session.js");
      const session = new Session(ws, { readOnly: true });
      const s = await session.status({ rows: 20 });
      process.stdout.write(JSON.stringify(s, null, 2) + "\n");
      return;
    }
    case "dashboard": {
      const ws = path.resolve(option(args, "--workspace") ?? process.cwd());
      const portText = option(args, "--port") ?? "8780";
      const host = option(args, "--host") ?? "127.0.0.1";
      if (args.length) fail(`unexpected argument ${args[0]}`);
      const port = Number(portText);
      if (!/^\d{1,5}$/.test(portText) || port > 65535) fail(`--port takes a port number (got ${JSON.stringify(portText)})`);
      const { serveDashboard } = await import("./web/server.js");
      const { allowedHostsFromEnv } = await import("./http.js");
      const allowedHosts = allowedHostsFromEnv();
      let d: Awaited<ReturnType<typeof serveDashboard>>;
      try {
        d = await serveDashboard({ workspace: ws, host, port, token: process.env.AUTORESEARCH_MCP_TOKEN || undefined, allowedHosts });
      } catch (e) {
        fail(errorText(e));
      }
      process.stdout.write(`dashboard of ${ws} at ${d.url}\n`);
      for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => void d.close().then(() => process.exit(0)));
      return;
    }
    case "report": {
      const ws = path.resolve(option(args, "--workspace") ?? process.cwd());
      if (args.length) fail(`unexpected argument ${args[0]}`);
      const { writeReport } = await import("./report/report.js");
      const r = await writeReport(ws);
      process.stdout.write(`wrote ${r.markdown} and ${r.svg}\n`);
      return;
    }
    case "init": {
      const { init } = await import("./init.js");
      const force = flag(args, "--force");
      if (args.length > 1 || args[0]?.startsWith("-")) fail(`unexpected argument ${args[args.length > 1 ? 1 : 0]}`);
      const dir = path.resolve(args[0] ?? process.cwd());
      const r = init(dir, { force });
      for (const line of r.lines) process.stdout.write(line + "\n");
      return;
    }
    case "demo": {
      const { runDemo } = await import("./demo.js");
      const keep = option(args, "--keep");
      const budget = option(args, "--budget");
      const experiments = option(args, "--experiments");
      if (args.length) fail(`unexpected argument ${args[0]}`);
      await runDemo({ keep, budgetSeconds: budget ? Number(budget) : undefined, experiments: experiments ? Number(experiments) : undefined });
      return;
    }
    default:
      fail(`unknown command ${cmd}`);
  }
}

main().catch((e) => {
  if (e instanceof ProtocolRefusal) process.stderr.write(`autoresearch-mcp: ${e.message}\n${e.next}\n`);
  else process.stderr.write(`autoresearch-mcp: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
