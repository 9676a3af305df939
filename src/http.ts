import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createServer, lazySession } from "./server.js";

/**
 * `serve --http [HOST:]PORT`: the same tools and rules as stdio over Streamable HTTP at /mcp, for a
 * GPU box reached from a laptop (through an SSH tunnel). 127.0.0.1 by default; every request needs
 * the bearer token of AUTORESEARCH_MCP_TOKEN (401 otherwise); the Host and Origin headers must name
 * this machine as the client reaches it (a loopback name, the bound address, or one listed in
 * AUTORESEARCH_MCP_ALLOWED_HOSTS), so a web page cannot reach the server through DNS rebinding
 * (403). Every client session shares one workspace session: one lock, one queue, one set of runs.
 */

export interface HttpOptions {
  workspace: string;
  host: string;
  port: number;
  token: string;
  /** more host names the Host/Origin headers may carry (a name the tunnel or a proxy uses) */
  allowedHosts?: readonly string[];
  progressIntervalMs?: number;
  log?: (msg: string) => void;
}

/** The shortest token the server accepts: a guessable one would make the check decoration. */
export const MIN_TOKEN_LENGTH = 16;

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** "[HOST:]PORT" → host and port; throws with what is wrong. */
export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`--http takes [HOST:]PORT, e.g. 8765 or 127.0.0.1:8765 (got ${JSON.stringify(spec)})`);
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, "") : "127.0.0.1", port };
}

/** The host name of a Host header or Origin URL, lower-cased, without the port; null when unreadable. */
export function hostNameOf(value: string, origin = false): string | null {
  try {
    const u = new URL(origin ? value : `http://${value}`);
    return u.hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** The host names a server bound to `bound` answers to besides loopback: the bound address (not a wildcard) and `extra`. */
export function allowedHostNames(bound: string, extra: readonly string[] = []): Set<string> {
  return new Set([...extra, bound].map((h) => h.toLowerCase().replace(/^\[|\]$/g, "")).filter((h) => h && h !== "0.0.0.0" && h !== "::"));
}

/** AUTORESEARCH_MCP_ALLOWED_HOSTS: more names (comma-separated) a tunnel or a proxy may use. */
export const allowedHostsFromEnv = (env: NodeJS.ProcessEnv = process.env): string[] =>
  (env.AUTORESEARCH_MCP_ALLOWED_HOSTS ?? "").split(",").map((h) => h.trim()).filter(Boolean);

export const isLoopback = (host: string): boolean => LOOPBACK.has(host.toLowerCase());

/** Whether a request's Host (and Origin, when sent) name this server. */
export function hostAllowed(headers: { host?: string; origin?: string }, allowed: ReadonlySet<string>): boolean {
  const host = headers.host ? hostNameOf(headers.host) : null;
  if (!host || !(LOOPBACK.has(host) || allowed.has(host))) return false;
  if (headers.origin === undefined) return true;
  const origin = hostNameOf(headers.origin, true);
  return !!origin && (LOOPBACK.has(origin) || allowed.has(origin));
}

/** Constant-time comparison of the Authorization header with the token. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  const a = crypto.createHash("sha256").update(m[1]).digest();
  const b = crypto.createHash("sha256").update(token).digest();
  return crypto.timingSafeEqual(a, b);
}

const refuse = (res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
};

export async function serveHttp(opts: HttpOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[autoresearch-mcp] ${m}\n`));
  const session = lazySession(opts.workspace, { progressIntervalMs: opts.progressIntervalMs });
  const allowed = allowedHostNames(opts.host, opts.allowedHosts);
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; close: () => Promise<void> }>();

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      if (!hostAllowed({ host: req.headers.host, origin: req.headers.origin }, allowed)) return refuse(res, 403, "Forbidden: the Host or Origin header does not name this server");
      if (url.pathname !== "/mcp") return refuse(res, 404, "Not found: the MCP endpoint is /mcp");
      if (!tokenMatches(req.headers.authorization, opts.token)) return refuse(res, 401, "Unauthorized: send Authorization: Bearer <AUTORESEARCH_MCP_TOKEN>", { "WWW-Authenticate": 'Bearer realm="autoresearch-mcp"' });
      const id = req.headers["mcp-session-id"];
      const known = typeof id === "string" ? sessions.get(id) : undefined;
      if (known) return known.transport.handleRequest(req, res);
      if (typeof id === "string") return refuse(res, 404, "Unknown session: initialize again");
      if (req.method !== "POST") return refuse(res, 400, "No session: POST initialize first");
      // A new client session: its own MCP server object over the one workspace session.
      const mcp = createServer({ workspace: opts.workspace, session, log });
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (sid) => void sessions.set(sid, { transport, close: () => mcp.server.close() }),
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await mcp.server.connect(transport);
      await transport.handleRequest(req, res);
    })().catch((e: unknown) => {
      log(`http: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) refuse(res, 500, "Internal error");
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}/mcp`,
    close: async () => {
      for (const s of sessions.values()) await s.close().catch(() => undefined);
      sessions.clear();
      await session.close();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
