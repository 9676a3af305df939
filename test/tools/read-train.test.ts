import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { call, ok, refused, text } from "../helpers/client.js";
import { session, useSessions } from "../helpers/session.js";
import { read } from "../helpers/workspace.js";

useSessions();

describe("read_train", () => {
  it("returns the editable file with its line count and hash, or a line range", async () => {
    const { ws, c } = await session();
    const r = await ok(c, "read_train");
    const lines = read(ws, "train.py").split("\n").length - 1;
    expect(r).toMatchObject({ file: "train.py", startLine: 1, endLine: lines, totalLines: lines, truncated: false, readonly: false });
    expect(r.hash).toMatch(/^[0-9a-f]{16}$/);
    const part = await ok(c, "read_train", { startLine: 7, endLine: 8 });
    expect(part.content).toBe(read(ws, "train.py").split("\n").slice(6, 8).join("\n"));
    expect(part.hash).toBe(r.hash);
  });

  it("sinceHash: nothing when unchanged, the diff after a patch or a reset, the whole file for an unknown hash", async () => {
    const { ws, c } = await session({ baseline: true });
    const whole = await ok(c, "read_train");
    const same = await call(c, "read_train", { sinceHash: whole.hash });
    expect(same.structuredContent).toMatchObject({ unchanged: true, content: "", hash: whole.hash, totalLines: whole.totalLines });
    expect(text(same)).toBe(`train.py: unchanged since ${whole.hash} (${whole.totalLines} lines).`);

    const patched = await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.02" }] });
    const d = await ok(c, "read_train", { sinceHash: whole.hash });
    expect(d).toMatchObject({ diffSince: whole.hash, hash: patched.hash });
    expect(d.content).toMatch(/^-LR = 0\.04 /m);
    expect(d.content).toMatch(/^\+LR = 0\.02 /m);
    expect(d.content.length).toBeLessThan(read(ws, "train.py").length);

    await ok(c, "commit", { description: "lower lr" });
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "lower lr", status: "discard" });
    const reset = await ok(c, "reset_to_best");
    expect(reset.hash).toBe(whole.hash);
    const back = await ok(c, "read_train", { sinceHash: patched.hash });
    expect(back.content).toMatch(/^\+LR = 0\.04 /m);
    expect((await ok(c, "read_train", { sinceHash: reset.hash })).unchanged).toBe(true);

    const unknown = await call(c, "read_train", { sinceHash: "0123456789abcdef" });
    expect(unknown.structuredContent).toMatchObject({ sinceUnknown: true, content: read(ws, "train.py").replace(/\n$/, "") });
    expect(text(unknown)).toMatch(/not known to this server: whole file/);
    expect(await refused(c, "read_train", { sinceHash: whole.hash, startLine: 1 })).toMatch(/sinceHash works on train\.py as a whole/);
    expect(await refused(c, "read_train", { sinceHash: whole.hash, file: "prepare.py" })).toMatch(/sinceHash works on train\.py as a whole/);
  });

  it("reads the read-only files on request and nothing else", async () => {
    const { c } = await session();
    expect((await ok(c, "read_train", { file: "prepare.py" })).readonly).toBe(true);
    for (const file of ["results.tsv", "../etc/passwd", "/etc/passwd", ".git/config", "autoresearch.json", "pyproject.toml"]) expect(await refused(c, "read_train", { file }), file).toMatch(/is not a file of the session/);
  });

  it("refuses a train.py that is a symlink out of the workspace, or a directory", async () => {
    const { ws, c } = await session();
    const outside = path.join(path.dirname(ws), `secret-${path.basename(ws)}.txt`);
    fs.writeFileSync(outside, "secret");
    try {
      fs.rmSync(path.join(ws, "train.py"));
      fs.symlinkSync(outside, path.join(ws, "train.py"));
      expect(await refused(c, "read_train")).toMatch(/symlink to a file outside the workspace/);
      fs.rmSync(path.join(ws, "train.py"));
      fs.symlinkSync(path.join(ws, ".git", "config"), path.join(ws, "train.py"));
      expect(await refused(c, "read_train")).toMatch(/resolves into \.git/);
      fs.rmSync(path.join(ws, "train.py"));
      fs.mkdirSync(path.join(ws, "train.py"));
      expect(await refused(c, "read_train")).toMatch(/not a regular file \(a directory\)/);
    } finally {
      fs.rmSync(outside, { force: true });
    }
  });

  it("refuses ranges past the end", async () => {
    const { c } = await session();
    expect(await refused(c, "read_train", { startLine: 10_000 })).toMatch(/past the end/);
    expect(await refused(c, "read_train", { startLine: 5, endLine: 2 })).toMatch(/before startLine/);
  });
});
