import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inspectSource, SourceChecker, scanImports } from "../../src/guards/source.js";
import { pipedChildUsable } from "../../src/process-tree.js";
import { until } from "../helpers/procs.js";

const PY = "python3";

const TYPICAL = `"""Training script.

Docs may say: import this, or from here import that.
"""
import os, sys as system
import torch.nn as nn
from torch.nn import functional as F
from dataclasses import (
    dataclass,
    field,
)
from . import sibling
from .local import thing
from prepare import Tokenizer, MAX_SEQ_LEN  # project module
import numpy as np; import math
if True: import json
try: import triton
except ImportError: pass

def load():
    import pandas as pd
    kernels = __import__("flash_attn.ops")
    tok = importlib.import_module("tiktoken")
    name = "x" + "y"
    m = importlib.import_module(name)
    n = __import__(f"mod_{name}")
    return pd
`;

const TYPICAL_IMPORTS = ["dataclasses", "flash_attn", "json", "math", "numpy", "os", "pandas", "prepare", "sys", "tiktoken", "torch", "triton"];

describe("inspectSource (python3's own parser)", () => {
  it("finds imports: plain, dotted, aliased, from x.y import z, multi-line parenthesised, inside functions, __import__ and import_module of literals; ignores relative imports; counts computed ones", async () => {
    const r = await inspectSource(TYPICAL, "train.py", PY);
    expect(r.checkedByPython).toBe(true);
    expect(r.syntaxError).toBeNull();
    expect(r.imports).toEqual(TYPICAL_IMPORTS);
    expect(r.computedImports).toBe(2);
  });

  it.each([
    ['__import__("pandas")', ["pandas"], 0],
    ['importlib.import_module("torch")', ["torch"], 0],
    ['importlib.import_module("torch.nn.functional")', ["torch"], 0],
    ['import_module("..relative", "pkg")', [], 0],
    ["__import__(name)", [], 1],
    ["importlib.import_module(f'mod_{i}')", [], 1],
    ['builtins.__import__("numpy")', ["numpy"], 0],
  ])("%s → imports %j, computed %i", async (src, imports, computed) => {
    const r = await inspectSource(src + "\n", "train.py", PY);
    expect(r.imports).toEqual(imports);
    expect(r.computedImports).toBe(computed);
  });

  it("a syntax error is reported with its line number and the line", async () => {
    const r = await inspectSource("x = 1\ny = (2,\nz = 3\n", "train.py", PY);
    expect(r.checkedByPython).toBe(true);
    expect(r.syntaxError?.message).toMatch(/^SyntaxError: /);
    expect(r.syntaxError?.line).toBe(2);
    expect(r.syntaxError?.text).toBe("y = (2,");
    expect(r.imports).toEqual([]);
  });

  it("'return' outside a function is caught (a compile-stage error, not a parse error)", async () => {
    const r = await inspectSource("x = 1\nreturn x\n", "train.py", PY);
    expect(r.syntaxError).toMatchObject({ message: "SyntaxError: 'return' outside function", line: 2 });
  });

  it("an IndentationError is a syntax error too", async () => {
    const r = await inspectSource("def f():\nreturn 1\n", "train.py", PY);
    expect(r.syntaxError?.message).toMatch(/^IndentationError: /);
    expect(r.syntaxError?.line).toBe(2);
  });

  it("a source with a non-UTF-8 coding declaration (latin-1 bytes) compiles", async () => {
    const src = Buffer.concat([Buffer.from("# -*- coding: latin-1 -*-\nimport os\nNAME = '"), Buffer.from([0xe9, 0xe8]), Buffer.from("'\n")]);
    const r = await inspectSource(src, "train.py", PY);
    expect(r.syntaxError).toBeNull();
    expect(r.imports).toEqual(["os"]);
  });

  it("invalid UTF-8 without a coding declaration is a syntax error", async () => {
    const r = await inspectSource(Buffer.concat([Buffer.from("x = '"), Buffer.from([0xff]), Buffer.from("'\n")]), "train.py", PY);
    expect(r.syntaxError?.message).toMatch(/SyntaxError|UnicodeDecodeError/);
  });

  it("NUL bytes in the source are an error, not a crash of the checker", async () => {
    const r = await inspectSource("x = 1\0\n", "train.py", PY);
    expect(r.checkedByPython).toBe(true);
    expect(r.syntaxError).not.toBeNull();
  });

  it("code nested too deeply for the compiler is an error, not a silent fall back to 'no Python'", async () => {
    const r = await inspectSource("x = " + "-".repeat(100_000) + "1\n", "train.py", PY);
    expect(r.checkedByPython).toBe(true);
    expect(r.syntaxError?.message).toMatch(/MemoryError|RecursionError/);
  });

  it("without that python binary: checkedByPython false, no syntax check, same import names on typical code", async () => {
    const r = await inspectSource(TYPICAL, "train.py", "python-that-does-not-exist-3.99");
    expect(r.checkedByPython).toBe(false);
    expect(r.syntaxError).toBeNull();
    expect(r.imports).toEqual(TYPICAL_IMPORTS);
    expect(r.computedImports).toBe(2);
  });
});

/**
 * Python fills in a SyntaxError's line by reading the file of the name it compiled under from
 * disk: the file before the edit. The report must quote the checked source (the edit), never the
 * file there, for every kind of error and for both the one-shot and the long-lived checker.
 */
describe("the error quotes the checked source, not the file of that name on disk", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arsrc-"));
  const onDisk = path.join(dir, "train.py");
  const OLD = 'x = 1\ny = 2          # the old line 2\nz = 3\ndef f():\n    return 4\n';
  fs.writeFileSync(onDisk, OLD);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: [string, string | Buffer, { message: RegExp; line: number; text: string }][] = [
    ["a parse error", "x = 1\ny = (2,\nz = 3\n", { message: /^SyntaxError: '\(' was never closed$/, line: 2, text: "y = (2," }],
    ["a compile-stage error (Python quotes no line at all without the file)", "x = 1\nreturn x\n", { message: /^SyntaxError: 'return' outside function$/, line: 2, text: "return x" }],
    ["an unexpected indent, the line shown with its indentation", "x = 1\n      y = 2\n", { message: /^IndentationError: unexpected indent \(the line is indented by 6 spaces\)$/, line: 2, text: "      y = 2" }],
    ["a dedent to no known level", "def f():\n    x = 1\n  y = 2\n", { message: /^IndentationError: unindent does not match any outer indentation level \(the line is indented by 2 spaces\)$/, line: 3, text: "  y = 2" }],
    ["tabs mixed with spaces", "if x:\n\ty = 1\n        z = 2\n", { message: /^TabError: .*\(the line is indented by 8 spaces\)$/, line: 3, text: "        z = 2" }],
    ["CRLF line breaks", "x = 1\r\ny = (\r\n", { message: /never closed/, line: 2, text: "y = (" }],
    ["a byte order mark and non-ASCII text", Buffer.from("\ufeffs = 'é'\nt = 'ü' +\n"), { message: /^SyntaxError: invalid syntax$/, line: 2, text: "t = 'ü' +" }],
    ["a latin-1 coding declaration", Buffer.from("# coding: latin-1\nx = 1\ns = '\xe9' +\n", "latin1"), { message: /^SyntaxError: /, line: 3, text: "s = 'é' +" }],
  ];

  it.each(cases)("%s: one-shot and long-lived checker agree and quote the edit", async (_case, src, want) => {
    const checker = new SourceChecker(PY);
    try {
      for (const r of [await inspectSource(src, onDisk, PY), await checker.inspect(src, onDisk)]) {
        expect(r.checkedByPython).toBe(true);
        expect(r.syntaxError).toMatchObject({ line: want.line, text: want.text });
        expect(r.syntaxError!.message).toMatch(want.message);
      }
    } finally {
      checker.close();
    }
    expect(fs.readFileSync(onDisk, "utf8")).toBe(OLD);
  });
});

describe("SourceChecker (one long-lived python3 for every check)", () => {
  const SOURCES = [
    TYPICAL,
    "x = (\n",
    "def f(:\n  pass\n",
    "print('hé ✓')\r\nimport json\r\n",
    "",
    "a = 1\0\n",
    "x = " + "(".repeat(300) + "1" + ")".repeat(300) + "\n",
  ];

  it("answers exactly what the one-shot check answers, source after source, in one process", async () => {
    const checker = new SourceChecker(PY);
    try {
      for (const src of SOURCES) expect(await checker.inspect(src, "train.py"), JSON.stringify(src.slice(0, 40))).toEqual(await inspectSource(src, "train.py", PY));
      // concurrent requests are answered each with its own report
      const many = await Promise.all(SOURCES.map((src) => checker.inspect(src + "\n# c\n", "train.py")));
      for (let i = 0; i < SOURCES.length; i++) expect(many[i]).toEqual(await inspectSource(SOURCES[i] + "\n# c\n", "train.py", PY));
    } finally {
      checker.close();
    }
  });

  it("a source that kills the checker (compiler stack overflow) gets the one-shot answer, and the next check works", async () => {
    const checker = new SourceChecker(PY);
    try {
      const deep = "x = " + "[".repeat(200_000) + "]".repeat(200_000) + "\n";
      expect(await checker.inspect(deep, "train.py")).toEqual(await inspectSource(deep, "train.py", PY));
      expect((await checker.inspect("import json\n", "train.py")).imports).toEqual(["json"]);
    } finally {
      checker.close();
    }
  });

  it("a checker killed from outside between checks (pkill python, OOM killer) is replaced at the next check", async () => {
    const checker = new SourceChecker(PY);
    try {
      await checker.inspect("import json\n", "train.py");
      const proc = (checker as unknown as { proc: ChildProcess }).proc;
      const pid = proc.pid!;
      process.kill(pid, "SIGKILL");
      // "between checks": the next check comes once the death is visible to this process (exit
      // seen or stdout ended), not after a fixed 200 ms a loaded machine may need more than.
      await until(() => !pipedChildUsable(proc), "the killed checker's exit to be seen");
      const r = await checker.inspect("import os\n", "train.py");
      expect(r).toEqual({ syntaxError: null, imports: ["os"], computedImports: 0, checkedByPython: true });
      // answered by a fresh checker, not by the one-shot fallback after the dead pipe's 30 s timeout
      // (that path closes the checker: proc would be null here)
      expect((checker as unknown as { proc: { pid: number } | null }).proc?.pid).toBeGreaterThan(0);
      expect((checker as unknown as { proc: { pid: number } }).proc.pid).not.toBe(pid);
    } finally {
      checker.close();
    }
  });

  it("without a Python it falls back to the scanner, as the one-shot check does", async () => {
    const checker = new SourceChecker("no-such-python-xyz");
    try {
      const r = await checker.inspect("import numpy\n", "train.py");
      expect(r).toEqual({ syntaxError: null, imports: ["numpy"], computedImports: 0, checkedByPython: false });
      expect((await checker.inspect("x = (\n", "train.py")).checkedByPython).toBe(false);
    } finally {
      checker.close();
    }
  });
});

describe("scanImports (fallback scanner)", () => {
  it.each([
    ["import a, b.c as d", ["a", "b"], 0],
    ["from x.y import z", ["x"], 0],
    ["from . import z\nfrom .m import q", [], 0],
    ["import os; import numpy", ["numpy", "os"], 0],
    ["try: import triton\nexcept ImportError: pass", ["triton"], 0],
    ["import os, \\\n    numpy", ["numpy", "os"], 0],
    ["# import torch\nx = 1  # import pandas", [], 0],
    ['"""\nimport torch\n"""\nx = 1', [], 0],
    ["s = '# not a comment'; import json", ["json"], 0],
    ["def import_module(name):\n    return name", [], 0],
    ["# importlib.import_module(name) is how\nx = 1", [], 0],
    ['__import__( "pandas" )', ["pandas"], 0],
    ["importlib.import_module(r'torch')", ["torch"], 0],
    ["importlib.import_module(name)", [], 1],
    ["__import__(f'x{y}')", [], 1],
  ])("%j → %j, computed %i", (src, imports, computed) => {
    expect(scanImports(src)).toEqual({ imports, computedImports: computed });
  });

  it("agrees with python3 on typical code and on karpathy-style imports", async () => {
    const karpathy = `import os\nos.environ["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"\nimport gc\nimport time\nfrom dataclasses import dataclass, asdict\n\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\nfrom kernels import get_kernel\nfrom prepare import MAX_SEQ_LEN, TIME_BUDGET, Tokenizer, make_dataloader, evaluate_bpb\n`;
    for (const src of [TYPICAL, karpathy]) {
      const py = await inspectSource(src, "train.py", PY);
      expect(scanImports(src).imports).toEqual(py.imports);
    }
  });
});
