import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { startClient, type Started } from "./helpers/client.js";
import { makeWorkspace, removeWorkspaces } from "./helpers/workspace.js";
import { stableJson } from "./helpers/stable-json.js";

let srv: Started;
let tools: Tool[];
beforeAll(async () => {
  srv = await startClient(makeWorkspace());
  tools = (await srv.client.listTools()).tools;
});
afterAll(async () => {
  await srv.close();
  removeWorkspaces();
});

describe("tools/list snapshot (a schema change must update __toolsnaps__ on purpose: npm run snaps)", () => {
  it("pins the tool names", () => {
    expect(tools.map((t) => t.name).sort()).toEqual(["apply_patch", "commit", "log_result", "parse_metrics", "read_train", "reset_to_best", "run_training", "start_session", "status"]);
  });
  it("pins every tool's name, description and schemas", async () => {
    for (const tool of tools) await expect(stableJson(tool)).toMatchFileSnapshot(`__toolsnaps__/${tool.name}.json`);
  });
});

describe("every tool follows the house rules", () => {
  it("has a title, all four hints, an output schema and plain input properties", () => {
    for (const t of tools) {
      expect(t.title, t.name).toBeTruthy();
      const a = t.annotations!;
      for (const hint of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const) expect(typeof a[hint], `${t.name}.${hint}`).toBe("boolean");
      expect(a.openWorldHint).toBe(false);
      expect(t.outputSchema?.type, t.name).toBe("object");
      expect(t.inputSchema.type).toBe("object");
      expect(t.inputSchema.properties, t.name).toBeDefined();
      for (const k of ["anyOf", "oneOf", "allOf"]) expect(t.inputSchema, `${t.name} ${k}`).not.toHaveProperty(k);
    }
  });
  it("keeps descriptions short and calm", () => {
    for (const t of tools) {
      expect(t.description!.length, t.name).toBeLessThanOrEqual(400);
      expect(t.description, t.name).not.toMatch(/\b[A-Z]{5,}\b/);
    }
  });
  it("lets no tool choose what is executed or which file is edited", () => {
    const props = (n: string) => Object.keys(tools.find((t) => t.name === n)!.inputSchema.properties ?? {});
    expect(props("run_training").sort()).toEqual(["cancel", "repeat", "runId", "wait", "waitSeconds"]);
    expect(props("apply_patch").sort()).toEqual(["content", "edits", "expectedHash"]);
    expect(props("commit")).toEqual(["description", "run"]);
    // commit's "run" is a yes/no (queue it), never a command.
    expect((tools.find((t) => t.name === "commit")!.inputSchema.properties as Record<string, { type?: string }>).run.type).toBe("boolean");
  });
  it("marks read-only and destructive tools", () => {
    const a = (n: string) => tools.find((t) => t.name === n)!.annotations!;
    for (const n of ["status", "read_train", "parse_metrics"]) expect(a(n).readOnlyHint, n).toBe(true);
    for (const n of ["reset_to_best", "apply_patch"]) expect(a(n).destructiveHint, n).toBe(true);
  });
});
