import http from "node:http";
import type { AddressInfo } from "node:net";
import { openWorkspace } from "../workspace.js";
import { allowedHostNames, hostAllowed, isLoopback, tokenMatches } from "../http.js";
import { PAGE } from "./page.js";
import { LiveState } from "./state.js";

/**
 * `autoresearch-mcp dashboard`: the live page over plain HTTP. 127.0.0.1 by default; bound to any
 * other address it needs the token of AUTORESEARCH_MCP_TOKEN (as `?token=` on the page's URL, or a
 * bearer header), as `serve --http` does. Host/Origin are checked the same way. GET only.
 */

export interface DashboardOptions {
  workspace: string;
  host: string;
  port: number;
  token?: string;
  allowedHosts?: readonly string[];
}

export async function serveDashboard(opts: DashboardOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const needsToken = !isLoopback(opts.host);
  if (needsToken && !opts.token) throw new Error(`bound to ${opts.host}, the dashboard needs a token in AUTORESEARCH_MCP_TOKEN (127.0.0.1 needs none)`);
  const ws = await openWorkspace(opts.workspace);
  const state = new LiveState(ws);
  const allowed = allowedHostNames(opts.host, opts.allowedHosts);
  const send = (res: http.ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      if (!hostAllowed({ host: req.headers.host, origin: req.headers.origin }, allowed)) return send(res, 403, "text/plain", "Forbidden: the Host or Origin header does not name this server\n");
      if (req.method !== "GET") return send(res, 405, "text/plain", "read-only: GET only\n");
      if (needsToken) {
        const given = url.searchParams.get("token");
        if (!tokenMatches(given ? `Bearer ${given}` : req.headers.authorization, opts.token!)) return send(res, 401, "text/plain", "Unauthorized: open the page with ?token=<AUTORESEARCH_MCP_TOKEN>\n");
      }
      if (url.pathname === "/") return send(res, 200, "text/html; charset=utf-8", PAGE);
      if (url.pathname === "/api/state") {
        const since = url.searchParams.get("since");
        if (since && since === state.version()) {
          res.writeHead(204, { "Cache-Control": "no-store" });
          return res.end();
        }
        return send(res, 200, "application/json", JSON.stringify(await state.snapshot()));
      }
      if (url.pathname === "/api/rows") return send(res, 200, "application/json", JSON.stringify(state.allRows()));
      if (url.pathname === "/api/diff") {
        const d = await state.diff(url.searchParams.get("commit") ?? "");
        return d === null ? send(res, 404, "text/plain", "no such commit\n") : send(res, 200, "text/plain; charset=utf-8", d);
      }
      return send(res, 404, "text/plain", "not found\n");
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain", `error: ${e instanceof Error ? e.message : String(e)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
