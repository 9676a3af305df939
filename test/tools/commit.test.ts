import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { session, useSessions } from "../helpers/session.js";
import { git, porcelain, read, write, headShort, logSubjects } from "../helpers/workspace.js";

useSessions();

describe("commit: the single-file rule (SPEC §1)", () => {
  it("commits only train.py with '<tag>: <description>' and returns the short hash", async () => {
    const { ws, c } = await session({ tag: "nov24", baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    const r = await ok(c, "commit", { description: "raise LR\tto 0.045\n(second line)" });
    expect(r.commit).toBe(headShort(ws));
    expect(logSubjects(ws)[0]).toBe("nov24: raise LR to 0.045 (second line)");
    expect(git(ws, "show", "--name-only", "--format=", "HEAD").trim()).toBe("train.py");
    expect(porcelain(ws)).toBe("");
  });

  it("refuses when another tracked file was edited behind the server's back, and changes nothing", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    write(ws, "prepare.py", read(ws, "prepare.py") + "BASE_LOSS = 0.0\n");
    const head = headShort(ws);
    const msg = await refused(c, "commit", { description: "cheat" });
    expect(msg).toMatch(/^Refused: Only train\.py may change, but: prepare\.py \(changed in the work tree\)/);
    expect(msg).toMatch(/Next: Undo them: "git checkout -- <file>"/);
    expect(headShort(ws)).toBe(head);
    expect(porcelain(ws)).toContain(" M prepare.py");
  });

  it("refuses an untracked new file (e.g. a helper module the agent wrote)", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    write(ws, "helper.py", "X = 1\n");
    expect(await refused(c, "commit", { description: "x" })).toMatch(/helper\.py \(untracked file\)/);
  });

  it("refuses after a commit made with the git CLI behind the server's back, and says how to recover", async () => {
    const { ws, c } = await session({ baseline: true });
    write(ws, "prepare.py", "BASE_LOSS = 0.0\n");
    git(ws, "commit", "-qam", "sneaky");
    await ok(c, "status");
    const msg = await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    expect(msg).toMatch(/prepare\.py \(committed since the session started\)/);
    expect(msg).toMatch(/reset_to_best/);
    // recovery as told: reset_to_best drops the sneaky commit
    await ok(c, "reset_to_best");
    expect(logSubjects(ws)).toEqual(["initial"]);
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
  });

  it("refuses a changed pyproject.toml as a new dependency", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    write(ws, "pyproject.toml", read(ws, "pyproject.toml").replace('"numpy>=1.26"', '"numpy>=1.26", "pandas"'));
    expect(await refused(c, "commit", { description: "x" })).toMatch(/^Refused: Dependency files changed: pyproject\.toml\. No new dependencies/);
  });

  it("refuses a new import that is neither stdlib, base, project nor declared; allows json and declared numpy", async () => {
    const { ws, c } = await session({ baseline: true });
    const before = read(ws, "train.py");
    // behind the server's back, so commit's own check is what refuses
    write(ws, "train.py", before.replace("import os\n", "import os\nimport pandas as pd\n"));
    expect(await refused(c, "commit", { description: "pandas" })).toMatch(/^Refused: New import "pandas"/);
    write(ws, "train.py", before.replace("import os\n", "import os\nimport json\nimport numpy\nfrom prepare import BASE_LOSS as B\n"));
    await ok(c, "commit", { description: "json, numpy (declared) and the project's own module" });
  });

  it("refuses package installs in code", async () => {
    const { ws, c } = await session({ baseline: true });
    for (const code of ['os.system("pip install pandas")', 'import subprocess\nsubprocess.run(["uv", "add", "pandas"])', 'import subprocess, sys\nsubprocess.check_call([sys.executable, "-m", "pip", "install", "x"])']) {
      write(ws, "train.py", read(ws, "train.py").replace(/\n# injected[\s\S]*$/, "\n") + `\n# injected\n${code}\n`);
      expect(await refused(c, "commit", { description: "install" }), code).toMatch(/^Refused: The code runs a package install/);
    }
  });

  it("refuses a syntax error written behind the server's back", async () => {
    const { ws, c } = await session({ baseline: true });
    write(ws, "train.py", read(ws, "train.py") + "\ndef broken(:\n");
    expect(await refused(c, "commit", { description: "x" })).toMatch(/^Refused: SyntaxError: .* at line \d+/);
  });

  it("refuses with nothing to commit and with an empty description", async () => {
    const { ws, c } = await session({ baseline: true });
    expect(await refused(c, "commit", { description: "x" })).toMatch(/train\.py has no changes/);
    write(ws, "train.py", read(ws, "train.py").replace("LR = 0.04", "LR = 0.041"));
    expect(await refused(c, "commit", { description: " \t\n" })).toMatch(/description is empty/);
  });

  it("never stages results.tsv or run.log", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    await ok(c, "commit", { description: "x" });
    expect(git(ws, "ls-files").split("\n")).not.toContain("results.tsv");
    expect(fs.existsSync(path.join(ws, "results.tsv"))).toBe(true);
    expect(fs.readFileSync(path.join(ws, ".git", "info", "exclude"), "utf8")).toMatch(/^\/results\.tsv$/m);
  });
});
