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
    expect(part.content).toBe(read(ws, "train.py").split("\n").slice(6, 8).join("\n") + "\n");
    expect(part.hash).toBe(r.hash);
  });

  it("is byte-exact: the whole file comes back with its final newline (and CRLF), so writing it back changes nothing", async () => {
    const body = "LR = 0.04\r\nSTEPS = 3\r\nprint('val_bpb:          1.000000')\r\n";
    const { ws, c } = await session({ train: body });
    const r = await ok(c, "read_train");
    expect(r.content).toBe(body);
    expect(Buffer.byteLength(r.content)).toBe(fs.statSync(path.join(ws, "train.py")).size);
    expect(r.totalLines).toBe(3);
    expect(await refused(c, "apply_patch", { content: r.content })).toMatch(/The patch leaves train\.py as it is/);
    expect((await ok(c, "read_train", { startLine: 3 })).content).toBe("print('val_bpb:          1.000000')\r\n");
  });

  it("sinceHash survives a server restart (versions kept under .git/autoresearch/)", async () => {
    const { ws, c } = await session();
    const whole = await ok(c, "read_train");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.03" }] });
    const { restart } = await import("../helpers/session.js");
    const again = await restart(ws);
    const d = await ok(again.c, "read_train", { sinceHash: whole.hash });
    expect(d.diffSince).toBe(whole.hash);
    expect(d.content).toMatch(/^\+LR = 0\.03 /m);
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
    expect(unknown.structuredContent).toMatchObject({ sinceUnknown: true, content: read(ws, "train.py") });
    expect(text(unknown)).toMatch(/not known to this server: whole file/);
    expect(await refused(c, "read_train", { sinceHash: whole.hash, startLine: 1 })).toMatch(/sinceHash works on train\.py as a whole/);
    expect(await refused(c, "read_train", { sinceHash: whole.hash, file: "prepare.py" })).toMatch(/sinceHash works on train\.py as a whole/);
  });

  it("reads the read-only files, and README.md, program.md and pyproject.toml where they exist, and nothing else", async () => {
    const { c } = await session({ files: { "program.md": "# program\nRead README.md first.\n" } });
    expect((await ok(c, "read_train", { file: "prepare.py" })).readonly).toBe(true);
    const program = await ok(c, "read_train", { file: "program.md" });
    expect(program).toMatchObject({ readonly: true, content: "# program\nRead README.md first.\n" });
    expect((await ok(c, "read_train", { file: "pyproject.toml" })).content).toMatch(/dependencies = \["numpy>=1\.26"\]/);
    for (const file of ["results.tsv", "../etc/passwd", "/etc/passwd", ".git/config", "autoresearch.json", "README.md"]) expect(await refused(c, "read_train", { file }), file).toMatch(/is not a file of the session/);
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
