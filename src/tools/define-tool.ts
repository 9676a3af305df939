import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z, type ZodRawShape } from "zod";
import { ProtocolRefusal } from "../errors.js";
import type { Session } from "../session/session.js";

/**
 * What a tool may call: the methods of `Session`. The server hands tools a lazy stand-in (see
 * server.ts) that loads the session module on the first call, so start-up does not pay for it.
 */
export type SessionApi = Pick<Session, "workspace" | "startSession" | "readFile" | "applyPatch" | "commit" | "runTraining" | "parseMetrics" | "logResult" | "resetToBest" | "status" | "close">;

/** What a tool does to the workspace; it decides all four MCP hints. */
export type Effect = "readOnly" | "additive" | "destructive";

export interface ToolContext {
  session: SessionApi;
  signal: AbortSignal;
  /** the client's name from `initialize` (clientInfo.name, e.g. "codex-mcp-client"), when it gave one */
  client?: string;
  /** present when the client asked for progress (sent a progressToken) */
  progress?: (elapsedSeconds: number, totalSeconds: number, line: string | null) => void;
}

export interface ToolDefinition<I extends ZodRawShape, O extends ZodRawShape> {
  name: string;
  title: string;
  description: string;
  effect: Effect;
  input: I;
  output: O;
  run: (ctx: ToolContext, args: z.infer<z.ZodObject<I>>) => Promise<{ data: z.infer<z.ZodObject<O>>; text: string }>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTool = ToolDefinition<any, any>;

export function defineTool<I extends ZodRawShape, O extends ZodRawShape>(def: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return def;
}

export function annotationsFor(effect: Effect) {
  return {
    readOnlyHint: effect === "readOnly",
    destructiveHint: effect === "destructive",
    idempotentHint: effect === "readOnly",
    openWorldHint: false,
  };
}

/** The one place where a tool meets MCP: schemas, hints, progress, and errors as results. */
export function registerTool(server: McpServer, session: SessionApi, tool: AnyTool, log: (msg: string) => void): void {
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.input,
      outputSchema: tool.output,
      annotations: { title: tool.title, ...annotationsFor(tool.effect) },
    },
    async (args: Record<string, unknown>, extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => {
      const token = extra._meta?.progressToken;
      const progress =
        token === undefined
          ? undefined
          : (elapsed: number, total: number, line: string | null) => {
              const message = `elapsed ${Math.round(elapsed)}s of at most ${Math.round(total)}s${line ? ` | ${line}` : ""}`;
              extra
                .sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: Math.round(elapsed * 10) / 10, total, message } })
                .catch(() => undefined);
            };
      try {
        const { data, text } = await tool.run({ session, signal: extra.signal, client: server.server.getClientVersion()?.name, progress }, args);
        return { content: [{ type: "text" as const, text }], structuredContent: data as Record<string, unknown> };
      } catch (e) {
        if (e instanceof ProtocolRefusal) {
          return { isError: true, content: [{ type: "text" as const, text: `Refused: ${e.message}\nNext: ${e.next}` }] };
        }
        log(`${tool.name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        const msg = e instanceof Error ? e.message : String(e);
        return { isError: true, content: [{ type: "text" as const, text: `Error: ${tool.name} failed: ${msg.slice(0, 500)}\nNext: check the workspace (git status, autoresearch.json) and retry; the server keeps running.` }] };
      }
    },
  );
}
