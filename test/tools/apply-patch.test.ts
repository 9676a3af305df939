import fs from "node:fs";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterEach, describe, expect, it } from "vitest";
import { call, CLI, ok, refused, text } from "../helpers/client.js";
import { session, useSessions } from "../helpers/session.js";
import { makeWorkspace, porcelain, read } from "../helpers/workspace.js";

useSessions();

const bytes = (ws: string) => fs.readFileSync(path.join(ws, "train.py"));
const BENCH_TRAIN = fs.readFileSync(new URL("../../bench/fixtures/train.py", import.meta.url), "utf8");

/**
 * A session whose server runs in the workspace, as a user's client starts it in the project:
 * there a train.py on disk sits right under the name the syntax check compiles with.
 */
const inWorkspace: Client[] = [];
afterEach(async () => {
  for (const c of inWorkspace.splice(0)) await c.close().catch(() => undefined);
});
async function sessionInWorkspace() {
  const ws = makeWorkspace();
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, "serve", "--workspace", ws], cwd: ws, stderr: "pipe", env: process.env as Record<string, string> });
  const c = new Client({ name: "test", version: "0.0.0" });
  await c.connect(transport);
  inWorkspace.push(c);
  await ok(c, "start_session", { tag: "t" });
  return { ws, c };
}

describe("apply_patch", () => {
  it("replaces a unique exact match and returns the diff and the new hash", async () => {
    const { ws, c } = await session({ baseline: true });
    const r = await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04 ", new: "LR = 0.045 " }] });
    expect(r.diff).toMatch(/^-LR = 0\.04 .*$/m);
    expect(r.diff).toMatch(/^\+LR = 0\.045 .*$/m);
    expect(r).toMatchObject({ added: 1, removed: 1, matches: ["exact"], syntaxChecked: true });
    expect((await ok(c, "read_train")).hash).toBe(r.hash);
    expect(porcelain(ws)).toBe(" M train.py\n");
  });

  it("falls back to whitespace-tolerant matching of whole lines", async () => {
    const { ws, c } = await session({ baseline: true });
    const r = await ok(c, "apply_patch", { edits: [{ old: "    steps = 5\n  for step   in range(steps):", new: "    steps = 6\n    for step in range(steps):" }] });
    expect(r.matches).toEqual(["whitespace"]);
    expect(read(ws, "train.py")).toContain("    steps = 6\n    for step in range(steps):\n");
  });

  it("says 'did you mean' with the closest lines on a miss, and leaves the file byte-identical", async () => {
    const { ws, c } = await session({ baseline: true });
    const before = bytes(ws);
    const msg = await refused(c, "apply_patch", { edits: [{ old: "LR = 0.4", new: "LR = 0.5" }] });
    expect(msg).toMatch(/^Refused: Patch not applied \(train\.py unchanged\): "old" was not found in the file\. Did you mean/);
    expect(msg).toMatch(/^\d+: LR = 0\.04/m);
    expect(msg).toMatch(/Next: Call read_train/);
    expect(bytes(ws).equals(before)).toBe(true);
  });

  it("'did you mean' on karpathy's train.py: MATRIX_LR = 0.40 (for 0.04) points at the MATRIX_LR line first", async () => {
    const { ws, c } = await session({ train: BENCH_TRAIN });
    const before = bytes(ws);
    const msg = await refused(c, "apply_patch", { edits: [{ old: "MATRIX_LR = 0.40", new: "MATRIX_LR = 0.05" }] });
    const line = BENCH_TRAIN.split("\n").findIndex((l) => l.startsWith("MATRIX_LR = 0.04")) + 1;
    expect(msg).toContain(`Did you mean (line: text):\n${line}: MATRIX_LR = 0.04 `);
    expect(msg).not.toMatch(/attn_flops|smooth_train_loss|total_training_time/);
    expect(bytes(ws).equals(before)).toBe(true);
  });

  it("a block sent re-indented (first line's indentation left out, a trailing blank) goes in at the file's indentation, and runs", async () => {
    const { ws, c } = await session({ baseline: true });
    const old = 'if CRASH:  \n        raise RuntimeError("boom: fixture crash")\n    return BASE_LOSS + abs(LR - 0.05) * 10';
    const neu = 'if CRASH:\n        raise RuntimeError("boom: fixture crash")\n    loss = BASE_LOSS + abs(LR - 0.05) * 10\n    if loss > 100:\n        loss = 100.0\n    return loss';
    const r = await ok(c, "apply_patch", { edits: [{ old, new: neu }] });
    expect(r).toMatchObject({ matches: ["whitespace"], syntaxChecked: true });
    expect(read(ws, "train.py")).toContain(
      '    if CRASH:\n        raise RuntimeError("boom: fixture crash")\n    loss = BASE_LOSS + abs(LR - 0.05) * 10\n    if loss > 100:\n        loss = 100.0\n    return loss\n\nval = train()\n',
    );
    await ok(c, "commit", { description: "cap the loss" });
    expect(await ok(c, "run_training")).toMatchObject({ crashed: false, exitCode: 0 });
  });

  it("a block sent with spaces for the file's tabs goes in with tabs (no TabError)", async () => {
    const tabbed = "def train():\n\tsteps = 5\n\tfor step in range(steps):\n\t\tpass\n\treturn 1.0\n\nprint(f'val_bpb:          {train():.6f}')\n";
    const { ws, c } = await session({ train: tabbed });
    const r = await ok(c, "apply_patch", { edits: [{ old: "    for step in range(steps):\n        pass", new: "    for step in range(steps):\n        if step:\n            pass" }] });
    expect(r.matches).toEqual(["whitespace"]);
    expect(read(ws, "train.py")).toBe(tabbed.replace("\t\tpass", "\t\tif step:\n\t\t\tpass"));
  });

  it("an IndentationError the edit still has names the line and quotes it as edited, not the file's line there", async () => {
    const { ws, c } = await sessionInWorkspace();
    const before = bytes(ws);
    expect(read(ws, "train.py").split("\n")[14]).toBe("    for step in range(steps):");
    const msg = await refused(c, "apply_patch", { edits: [{ old: "    steps = 5\n", new: "    steps = 5\n      warmup = 1\n" }] });
    expect(msg).toMatch(/^Refused: IndentationError: unexpected indent \(the line is indented by 6 spaces\) at line 15(:\d+)?: +warmup = 1\. train\.py was left unchanged/);
    expect(msg).not.toContain("for step in range");
    expect(bytes(ws).equals(before)).toBe(true);
    expect(porcelain(ws)).toBe("");
  });

  it("a SyntaxError quotes the new, broken line at that number, not the line of the file on disk", async () => {
    const { ws, c } = await sessionInWorkspace();
    const before = bytes(ws);
    expect(read(ws, "train.py").split("\n")[8]).toMatch(/^SLEEP = 0\.0/);
    const msg = await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "BETA = 1\nLR = (0.04" }] });
    expect(msg).toMatch(/^Refused: SyntaxError: '\(' was never closed at line 9:\d+: LR = \(0\.04 {10}# lower val_bpb/);
    expect(msg).not.toContain("SLEEP");
    expect(bytes(ws).equals(before)).toBe(true);
    expect(porcelain(ws)).toBe("");
  });

  it("refuses an old text that matches twice", async () => {
    const { c } = await session({ baseline: true });
    expect(await refused(c, "apply_patch", { edits: [{ old: "print(f\"", new: "print(\"" }] })).toMatch(/matches \d+ places/);
  });

  it("is all-or-nothing over several edits", async () => {
    const { ws, c } = await session({ baseline: true });
    const before = bytes(ws);
    const msg = await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }, { old: "NOT THERE", new: "x" }] });
    expect(msg).toMatch(/edit 2 of 2/);
    expect(bytes(ws).equals(before)).toBe(true);
    const r = await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }, { old: "LR = 0.045", new: "LR = 0.046" }] });
    expect(r.matches).toEqual(["exact", "exact"]);
    expect(read(ws, "train.py")).toContain("LR = 0.046");
  });

  it("refuses a stale expectedHash", async () => {
    const { ws, c } = await session({ baseline: true });
    const { hash } = await ok(c, "read_train");
    fs.appendFileSync(path.join(ws, "train.py"), "# edited elsewhere\n");
    const before = bytes(ws);
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }], expectedHash: hash })).toMatch(/changed since you read it/);
    expect(bytes(ws).equals(before)).toBe(true);
  });

  it("catches a Python syntax error before anything is written", async () => {
    const { ws, c } = await session({ baseline: true });
    const before = bytes(ws);
    const msg = await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = (0.04" }] });
    expect(msg).toMatch(/^Refused: SyntaxError: .* at line \d+.*train\.py was left unchanged/);
    expect(bytes(ws).equals(before)).toBe(true);
    expect(porcelain(ws)).toBe("");
  });

  it("refuses a new import at the patch already", async () => {
    const { ws, c } = await session({ baseline: true });
    const before = bytes(ws);
    expect(await refused(c, "apply_patch", { edits: [{ old: "import os\n", new: "import os\nimport torch\n" }] })).toMatch(/New import "torch"/);
    expect(bytes(ws).equals(before)).toBe(true);
  });

  it("replaces the whole content, and refuses both or neither of edits/content", async () => {
    const { ws, c } = await session({ baseline: true });
    const next = read(ws, "train.py").replace("SLEEP = 0.0", "SLEEP = 0.01");
    const r = await ok(c, "apply_patch", { content: next });
    expect(r.added).toBe(1);
    expect(read(ws, "train.py")).toBe(next);
    expect(await refused(c, "apply_patch", {})).toMatch(/Nothing to apply/);
    expect(await refused(c, "apply_patch", { content: "x = 1\n", edits: [{ old: "a", new: "b" }] })).toMatch(/either "edits" or "content"/);
  });

  it("keeps CRLF line endings and non-ASCII text byte for byte", async () => {
    const crlf = "# -*- coding: utf-8 -*-\r\n\"\"\"Ünïcødé — λ 学習 🚀\"\"\"\r\nLR = 0.04\r\nNAME = 'naïve café'\r\nprint('val_bpb:          1.0')\r\n";
    const { ws, c } = await session({ train: crlf, baseline: false });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04\nNAME", new: "LR = 0.05\nNAME" }] });
    const after = bytes(ws);
    expect(after.equals(Buffer.from(crlf.replace("LR = 0.04", "LR = 0.05"), "utf8"))).toBe(true);
    const r = await ok(c, "read_train");
    expect(r.content).toContain("学習 🚀");
  });

  it("refuses edits to a file that is not valid UTF-8 rather than rewrite its bytes", async () => {
    const latin1 = Buffer.concat([Buffer.from("# caf"), Buffer.from([0xe9]), Buffer.from("\nLR = 0.04\nprint('val_bpb:          1.0')\n")]);
    const { ws, c } = await session({ train: latin1.toString("latin1") });
    fs.writeFileSync(path.join(ws, "train.py"), latin1);
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] })).toMatch(/not valid UTF-8/);
    expect(bytes(ws).equals(latin1)).toBe(true);
  });

  it("rejects invalid input with a clear error and the server keeps serving", async () => {
    const { c } = await session();
    const r = await call(c, "apply_patch", { edits: "LR = 0.05" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/edits/);
    await ok(c, "status");
  });
});
