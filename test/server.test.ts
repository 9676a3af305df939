import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { ok } from "./helpers/client.js";
import { session, useSessions } from "./helpers/session.js";
import { read } from "./helpers/workspace.js";

useSessions();

describe("server: instructions, the playbook prompt and workspace resources", () => {
  it("announces instructions that tell the loop", async () => {
    const { srv } = await session();
    expect(srv.client.getInstructions()).toMatch(/start_session/);
    expect(srv.client.getServerVersion()).toMatchObject({ name: "autoresearch-mcp" });
  });

  it("offers the skill as the prompt 'autoresearch'", async () => {
    const { c } = await session();
    const prompts = (await c.listPrompts()).prompts;
    expect(prompts.map((p) => p.name)).toEqual(["autoresearch"]);
    const p = await c.getPrompt({ name: "autoresearch" });
    const skill = fs.readFileSync(new URL("../skills/autoresearch/SKILL.md", import.meta.url), "utf8");
    expect(p.messages[0].content).toMatchObject({ type: "text", text: skill });
  });

  it("offers train.py, results.tsv and the run.log tail as resources", async () => {
    const { ws, c } = await session({ baseline: true });
    const uris = (await c.listResources()).resources.map((r) => r.uri).sort();
    expect(uris).toEqual(["autoresearch://workspace/editable", "autoresearch://workspace/log-tail", "autoresearch://workspace/results"]);
    const train = await c.readResource({ uri: "autoresearch://workspace/editable" });
    expect(train.contents[0]).toMatchObject({ text: read(ws, "train.py") });
    const results = await c.readResource({ uri: "autoresearch://workspace/results" });
    expect((results.contents[0] as { text: string }).text).toBe(read(ws, "results.tsv").trimEnd());
    const tail = await c.readResource({ uri: "autoresearch://workspace/log-tail" });
    expect((tail.contents[0] as { text: string }).text).toMatch(/^val_bpb: 1$/m);
    await ok(c, "status");
  });

  it("the run.log tail resource answers before the first run (no -32603)", async () => {
    const { c } = await session();
    const tail = await c.readResource({ uri: "autoresearch://workspace/log-tail" });
    expect((tail.contents[0] as { text: string }).text).toBe("(no run yet: run.log does not exist)");
  });

  it("logs to stderr only: stdout stays JSON-RPC through a whole cycle", async () => {
    const { srv, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "CRASH = False", new: "CRASH = True" }] });
    await ok(c, "commit", { description: "crash" });
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "crash" });
    await ok(c, "reset_to_best");
    expect(srv.errors).toEqual([]);
    expect(srv.stderr()).toMatch(/serving/);
  });
});
