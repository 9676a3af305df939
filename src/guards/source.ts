import { createHash } from "node:crypto";
import { execa } from "execa";
import { pipedChildUsable, unrefPiped } from "../process-tree.js";

/**
 * Python source as the rules see it: syntax and imports, read by Python's own parser (one
 * long-lived process per server); without a Python a line scanner stands in, so the rules still hold.
 */

export interface SourceReport {
  /** null when the source compiles, else where and why it does not */
  syntaxError: { message: string; line: number | null; col: number | null; text: string } | null;
  /** top-level module names imported (absolute imports, plus __import__/import_module of a literal) */
  imports: string[];
  /** __import__/import_module calls whose module name is computed at run time */
  computedImports: number;
  /** false when Python was not available and the fallback scanner was used */
  checkedByPython: boolean;
}

// One request per source: a header line {"name", "size"} and `size` bytes; one JSON line back.
// The same program serves a single request (`-c` with the source on stdin and no header) so
// the one-shot fallback and the long-lived checker cannot drift apart.
//
// Python fills in an error's line (SyntaxError.text) by reading the file of the name it compiled
// under, from disk: the file before the edit, not the source being checked. So it compiles under
// a name no file has (Python's own messages do not carry the name) and takes the line from the
// source itself: the compile stage's errors ('return' outside function) come with no line at all.
const INSPECT_PY = String.raw`
import ast, os, sys, json

def unread_name(name):
    n = "<%s>" % name
    while os.path.lexists(n):
        n = "<%s>" % n
    return n

def source_line(src, lineno):
    if not lineno or lineno < 1:
        return None
    try:
        if isinstance(src, bytes):
            import importlib.util
            src = importlib.util.decode_source(src)
        else:
            src = src.replace("\r\n", "\n").replace("\r", "\n")
        lines = src.split("\n")
        return lines[lineno - 1] if lineno <= len(lines) else None
    except Exception:
        return None

def indentation(line):
    ws = line[: len(line) - len(line.lstrip(" \t\f"))]
    if not ws:
        return "not indented"
    spaces, tabs = ws.count(" "), ws.count("\t")
    parts = ["%d space%s" % (spaces, "" if spaces == 1 else "s")] if spaces else []
    if tabs:
        parts.append("%d tab%s" % (tabs, "" if tabs == 1 else "s"))
    return "indented by " + " and ".join(parts)

def syntax_error(e, src):
    text = source_line(src, e.lineno)
    if text is None:
        text = e.text or ""
    text = text.rstrip("\r\n\t\f\v ")
    msg = str(e.msg)
    if isinstance(e, IndentationError) and e.lineno:
        # The indentation is the error; a one-line quote of the line may not show it.
        msg = "%s (the line is %s)" % (msg, indentation(text))
    return {"message": "%s: %s" % (type(e).__name__, msg), "line": e.lineno, "col": e.offset, "text": text[:200]}

def inspect(src, name):
    out = {"error": None, "imports": [], "computed": 0}
    compiled_as = unread_name(name)
    try:
        tree = compile(src, compiled_as, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        compile(tree, compiled_as, "exec", dont_inherit=True)
    except SyntaxError as e:
        out["error"] = syntax_error(e, src)
        tree = None
    except (ValueError, UnicodeDecodeError, RecursionError, MemoryError, OverflowError) as e:
        # NUL bytes, undecodable bytes, nesting too deep for the compiler: Python cannot run it either.
        out["error"] = {"message": "%s: %s" % (type(e).__name__, e or "the source is nested too deeply to compile"), "line": None, "col": None, "text": ""}
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out["imports"] += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    out["imports"].append(node.module.split(".")[0])
            elif isinstance(node, ast.Call):
                f = node.func
                fname = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else None)
                if fname in ("__import__", "import_module"):
                    a = node.args[0] if node.args else None
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        if not a.value.startswith("."):
                            out["imports"].append(a.value.split(".")[0])
                    else:
                        out["computed"] += 1
    out["imports"] = sorted(set(out["imports"]))
    return json.dumps(out)

if sys.argv[1:] == ["--serve"]:
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        head = stdin.readline()
        if not head:
            break
        req = json.loads(head)
        src = stdin.read(req["size"])
        try:
            stdout.write(inspect(src, req["name"]) + "\n")
        except Exception as e:
            stdout.write(json.dumps({"failed": repr(e)[:200]}) + "\n")
        stdout.flush()
else:
    sys.stdout.write(inspect(sys.stdin.buffer.read(), sys.argv[1]))
`;

type InspectReply = { error: SourceReport["syntaxError"]; imports: string[]; computed: number };

function toReport(j: InspectReply): SourceReport {
  return { syntaxError: j.error, imports: j.imports, computedImports: j.computed, checkedByPython: true };
}

/** One-shot: a Python process per source. Used when the long-lived checker is not available. */
export async function inspectSource(source: string | Buffer, fileName: string, python: string): Promise<SourceReport> {
  try {
    const r = await execa(python, ["-I", "-S", "-c", INSPECT_PY, fileName], { input: Buffer.isBuffer(source) ? source : Buffer.from(source, "utf8"), reject: false, timeout: 30_000, maxBuffer: 4 << 20 });
    if (r.exitCode === 0) return toReport(JSON.parse(String(r.stdout)) as InspectReply);
  } catch {
    /* no such python: fall back below */
  }
  return fallbackReport(source);
}

function fallbackReport(source: string | Buffer): SourceReport {
  const text = Buffer.isBuffer(source) ? source.toString("utf8") : source;
  return { syntaxError: null, ...scanImports(text), checkedByPython: false };
}

/**
 * A long-lived Python that checks sources on request. Starting Python costs 20-200 ms (more
 * behind a pyenv shim) and every apply_patch and commit needs a check; one process per server
 * makes a check cost about a millisecond. Reports are cached by content, so commit does not
 * re-check what apply_patch just checked. The process reads its requests from a pipe: when the
 * server dies, the pipe closes and it exits, so it is never left behind. Any trouble (no
 * Python, a crash, a hang) falls back to the one-shot check, which falls back to the scanner.
 */
export class SourceChecker {
  private proc: ReturnType<typeof execa> | null = null;
  private broken = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly cache = new Map<string, SourceReport>();

  constructor(readonly python: string) {}

  async inspect(source: string | Buffer, fileName: string): Promise<SourceReport> {
    const buf = Buffer.isBuffer(source) ? source : Buffer.from(source, "utf8");
    const key = `${fileName}\0${createHash("sha256").update(buf).digest("hex")}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const report = await this.serialized(() => this.ask(buf, fileName));
    if (report.checkedByPython) {
      if (this.cache.size >= 32) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, report);
    }
    return report;
  }

  close(): void {
    this.proc?.kill("SIGKILL");
    this.proc = null;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async ask(buf: Buffer, fileName: string): Promise<SourceReport> {
    if (this.broken) return inspectSource(buf, fileName, this.python);
    try {
      const proc = this.start();
      const line = new Promise<string>((resolve, reject) => {
        let acc = "";
        const timer = setTimeout(() => done(new Error("checker timed out")), 30_000);
        const onData = (d: Buffer) => {
          acc += d.toString("utf8");
          const nl = acc.indexOf("\n");
          if (nl >= 0) done(null, acc.slice(0, nl));
        };
        const onEnd = () => done(new Error("checker exited"));
        const done = (err: Error | null, value?: string) => {
          clearTimeout(timer);
          proc.stdout!.off("data", onData);
          proc.stdout!.off("end", onEnd);
          if (err) reject(err);
          else resolve(value!);
        };
        proc.stdout!.on("data", onData);
        proc.stdout!.on("end", onEnd);
        if (proc.stdout!.readableEnded) onEnd();
      });
      proc.stdin!.write(JSON.stringify({ name: fileName, size: buf.length }) + "\n");
      proc.stdin!.write(buf);
      const j = JSON.parse(await line) as InspectReply | { failed: string };
      if ("failed" in j) return inspectSource(buf, fileName, this.python);
      return toReport(j);
    } catch {
      // A crash (e.g. the compiler overflowing the C stack) or a hang: retire the process and
      // answer this one the old way; the next check starts a fresh checker.
      this.close();
      return inspectSource(buf, fileName, this.python);
    }
  }

  private start(): ReturnType<typeof execa> {
    // A checker killed from outside (pkill python, the OOM killer) has exitCode null and a
    // signalCode, or its stdout has ended: start a fresh one rather than wait on a dead pipe.
    if (pipedChildUsable(this.proc)) return this.proc;
    this.proc = null;
    const proc = execa(this.python, ["-I", "-S", "-c", INSPECT_PY, "--serve"], { stdin: "pipe", stdout: "pipe", stderr: "ignore", buffer: false, reject: false, cleanup: true });
    proc.catch(() => undefined);
    proc.on("error", () => {
      // No such Python: every check goes one-shot (which falls back to the scanner).
      this.broken = true;
    });
    proc.stdin!.on("error", () => undefined);
    proc.on("exit", () => {
      if (this.proc === proc) this.proc = null;
    });
    unrefPiped(proc);
    this.proc = proc;
    return proc;
  }
}

/**
 * Python source with comments removed and the contents of triple-quoted strings blanked (line
 * breaks kept), so docstrings that mention "import x" are not read as imports. One-line strings
 * stay: `__import__("x")` needs them.
 */
function codeOnly(text: string): string {
  let out = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const q3 = c.repeat(3);
      if (text.startsWith(q3, i)) {
        let j = i + 3;
        while (j < n && !text.startsWith(q3, j)) j += text[j] === "\\" ? 2 : 1;
        out += q3 + text.slice(i + 3, Math.min(j, n)).replace(/[^\n]/g, " ") + q3;
        i = j + 3;
        continue;
      }
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, Math.min(j + 1, n));
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** A one-line compound statement's header (`try:`, `if x:`, `else:`) in front of an import. */
const COMPOUND = /^\s*(?:(?:try|else|finally|if|elif|while|for|with|except)\b[^:]*:\s*)+/;
const IDENT = /^[A-Za-z_]\w*$/;

/** Line-based import scan, used only when no Python is available. */
export function scanImports(text: string): { imports: string[]; computedImports: number } {
  const names = new Set<string>();
  const code = codeOnly(text);
  // Logical lines: backslash continuations joined, `;`-separated statements split.
  const statements: string[] = [];
  let acc = "";
  for (const raw of code.split(/\r?\n/)) {
    if (/\\\s*$/.test(raw)) {
      acc += raw.replace(/\\\s*$/, " ");
      continue;
    }
    statements.push(...(acc + raw).split(";"));
    acc = "";
  }
  if (acc) statements.push(...acc.split(";"));
  for (const stmt of statements) {
    const line = stmt.replace(COMPOUND, "");
    let m = /^\s*import\s+(.+)$/.exec(line);
    if (m)
      for (const part of m[1].split(",")) {
        const n = part.trim().split(/\s+/)[0]?.split(".")[0];
        if (n && IDENT.test(n)) names.add(n);
      }
    m = /^\s*from\s+([A-Za-z_][\w.]*)\s+import\b/.exec(line);
    if (m) names.add(m[1].split(".")[0]);
  }
  // __import__("x") / import_module("x") with a literal name (str prefixes r/u allowed); any other
  // first argument (a variable, an f-string, bytes, none) is computed, as Python's check counts it.
  let computedImports = 0;
  for (const d of code.matchAll(/(?<!\bdef\s+)\b(?:__import__|import_module)\s*\(\s*(?:([rRuU]?)(["'])([^"'\n]*)\2)?/g)) {
    if (d[2] === undefined) computedImports++;
    else if (/^[A-Za-z_][\w.]*$/.test(d[3])) names.add(d[3].split(".")[0]);
    else if (!d[3].startsWith(".")) computedImports++;
  }
  return { imports: [...names].sort(), computedImports };
}
