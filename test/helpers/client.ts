import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CALL_MS } from "./timeouts.js";

export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

export interface Started {
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
  /** transport/protocol errors seen by the client (a non-JSON line on stdout would land here) */
  errors: Error[];
  pid: () => number | null;
  close: () => Promise<void>;
}

/** Starts the built server over stdio, as a user's client would. */
export async function startClient(workspace: string, env: Record<string, string> = {}): Promise<Started> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "serve", "--workspace", workspace],
    stderr: "pipe",
    env: { ...(process.env as Record<string, string>), AUTORESEARCH_PROGRESS_MS: "500", ...env },
  });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += d));
  const client = new Client({ name: "test", version: "0.0.0" });
  const errors: Error[] = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport, { timeout: CALL_MS });
  return { client, transport, stderr: () => stderr, errors, pid: () => transport.pid, close: () => client.close() };
}

export type ToolResult = CallToolResult & { structuredContent?: Record<string, any> };

export interface CallOptions {
  onprogress?: (p: { progress: number; total?: number; message?: string }) => void;
  /** SDK request timeout; reset by every progress notification (default CALL_MS) */
  timeout?: number;
  /**
   * false: send no progress token, as a client without progress support. By default a call sends
   * one (as opencode does), so run_training waits for the run however long a loaded machine takes
   * (up to the run's hard limit) instead of returning "running" after the server's 50 s cap.
   */
  progress?: boolean;
}

/** Calls a tool and returns the result (errors are results with isError). */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<ToolResult> {
  const onprogress = opts.onprogress ?? (opts.progress === false ? undefined : () => undefined);
  return (await client.callTool({ name, arguments: args }, undefined, { onprogress, timeout: opts.timeout ?? CALL_MS, resetTimeoutOnProgress: true })) as ToolResult;
}

export const text = (r: ToolResult) => (r.content as { type: string; text: string }[]).map((c) => c.text).join("\n");

/** Calls a tool that must succeed and returns its structured content. */
export async function ok(client: Client, name: string, args: Record<string, unknown> = {}, opts: Parameters<typeof call>[3] = {}): Promise<Record<string, any>> {
  const r = await call(client, name, args, opts);
  if (r.isError) throw new Error(`${name} failed: ${text(r)}`);
  return r.structuredContent!;
}

/** Calls a tool that must be refused and returns its text. */
export async function refused(client: Client, name: string, args: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<string> {
  const r = await call(client, name, args, opts);
  if (!r.isError) throw new Error(`${name} was expected to be refused but returned: ${text(r)}`);
  return text(r);
}
