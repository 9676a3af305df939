import { afterEach, expect } from "vitest";
import { until } from "./procs.js";
import { CALL_MS } from "./timeouts.js";
import { startClient, ok, type Started } from "./client.js";
import { makeWorkspace, removeWorkspaces, type WorkspaceOptions } from "./workspace.js";

const open: Started[] = [];

/** Registers cleanup: every server started through `session()` is closed, every workspace removed. */
export function useSessions() {
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => undefined);
    removeWorkspaces();
  });
}

/** A workspace with a started session (and optionally the baseline run logged). */
export async function session(opts: WorkspaceOptions & { tag?: string; baseline?: boolean; env?: Record<string, string> } = {}) {
  const ws = makeWorkspace(opts);
  const srv = await startClient(ws, opts.env);
  open.push(srv);
  await ok(srv.client, "start_session", { tag: opts.tag ?? "t" });
  if (opts.baseline) {
    await ok(srv.client, "run_training");
    await ok(srv.client, "log_result", { description: "baseline" });
  }
  return { ws, srv, c: srv.client };
}

/** Starts one more server on an existing workspace (a restart). */
export async function restart(ws: string, env?: Record<string, string>) {
  const srv = await startClient(ws, env);
  open.push(srv);
  return { srv, c: srv.client };
}

/** patch → commit → run → log, returning the logged row. */
export async function experiment(c: Started["client"], old: string, neu: string, description: string, status?: string) {
  await ok(c, "apply_patch", { edits: [{ old, new: neu }] });
  await ok(c, "commit", { description });
  const run = await ok(c, "run_training");
  const logged = await ok(c, "log_result", { description, ...(status ? { status } : {}) });
  return { run, logged };
}

/**
 * Calls a tool on a server that SIGKILLs itself at a crash point (AUTORESEARCH_TEST_CRASH_AT);
 * resolves when the server is gone. The call ends when the connection closes (the server died),
 * not after a fixed time: a timeout of a few seconds could give up before a loaded machine
 * reached the crash point.
 */
export async function killedAt(c: Started["client"], srvPid: number, name: string, args: Record<string, unknown>) {
  await expect(c.callTool({ name, arguments: args }, undefined, { timeout: CALL_MS })).rejects.toThrow(/closed/i);
  await until(() => {
    try {
      process.kill(srvPid, 0);
      return false;
    } catch {
      return true;
    }
  }, `the server (pid ${srvPid}) to be gone after its crash point`);
}
