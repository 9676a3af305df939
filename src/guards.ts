import fs from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import { PYTHON_STDLIB } from "./python-stdlib.js";
import { pipedChildUsable, unrefPiped } from "./process-tree.js";
import type { Repo, StatusEntry } from "./git.js";

/**
 * The rules a program can check: the single editable file and no new dependencies. Python source
 * is inspected by Python's own parser (syntax and imports in one call); without a Python the
 * checks fall back to a line scanner, so the rules still hold.
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
const INSPECT_PY = String.raw`
import ast, sys, json

def inspect(src, name):
    out = {"error": None, "imports": [], "computed": 0}
    try:
        tree = compile(src, name, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        compile(tree, name, "exec", dont_inherit=True)
    except SyntaxError as e:
        out["error"] = {"message": "%s: %s" % (type(e).__name__, e.msg), "line": e.lineno, "col": e.offset, "text": (e.text or "").rstrip()[:200]}
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

/** Distribution names (PEP 503-normalised) whose import name differs. */
const IMPORT_ALIASES: Record<string, string[]> = {
  "scikit-learn": ["sklearn"],
  "scikit-image": ["skimage"],
  pillow: ["PIL"],
  pyyaml: ["yaml"],
  "opencv-python": ["cv2"],
  "opencv-python-headless": ["cv2"],
  "opencv-contrib-python": ["cv2"],
  beautifulsoup4: ["bs4"],
  "python-dateutil": ["dateutil"],
  "python-dotenv": ["dotenv"],
  protobuf: ["google"],
  "typing-extensions": ["typing_extensions"],
  "pytorch-lightning": ["pytorch_lightning", "lightning"],
  "huggingface-hub": ["huggingface_hub"],
  attrs: ["attr", "attrs"],
  pyzmq: ["zmq"],
  "nvidia-ml-py": ["pynvml"],
  "faiss-cpu": ["faiss"],
  "faiss-gpu": ["faiss"],
  "tensorflow-gpu": ["tensorflow"],
  pyjwt: ["jwt"],
  setuptools: ["setuptools", "pkg_resources"],
};

const normName = (s: string) => s.toLowerCase().replace(/[-_.]+/g, "_");
const distKey = (s: string) => s.toLowerCase().replace(/[-_.]+/g, "-");

type TomlToken = { t: "str"; v: string } | { t: "bare"; v: string } | { t: "p"; v: string } | { t: "nl" };

/** Tokens of a TOML text: strings (all four kinds), bare words, punctuation, line breaks; comments dropped. */
function tomlTokens(src: string): TomlToken[] {
  const out: TomlToken[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === "\n") {
      out.push({ t: "nl" });
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === "#") while (i < n && src[i] !== "\n") i++;
    else if (c === '"' || c === "'") {
      const q3 = c.repeat(3);
      if (src.startsWith(q3, i)) {
        let j = i + 3;
        while (j < n && !src.startsWith(q3, j)) j += c === '"' && src[j] === "\\" ? 2 : 1;
        out.push({ t: "str", v: src.slice(i + 3, Math.min(j, n)) });
        i = j + 3;
      } else {
        let j = i + 1;
        while (j < n && src[j] !== c && src[j] !== "\n") j += c === '"' && src[j] === "\\" ? 2 : 1;
        out.push({ t: "str", v: src.slice(i + 1, Math.min(j, n)) });
        i = src[j] === c ? j + 1 : j;
      }
    } else if ("[]{}=,".includes(c)) {
      out.push({ t: "p", v: c });
      i++;
    } else {
      let j = i;
      while (j < n && !/[\s[\]{}=,#"']/.test(src[j])) j++;
      out.push({ t: "bare", v: src.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/**
 * Dependency names declared anywhere in pyproject.toml: `dependencies`/`dev-dependencies`/`requires`
 * arrays in any table (PEP 621 `[project]`, `[tool.uv]`, `[build-system]`, hatch envs),
 * `[project.optional-dependencies]`, `[dependency-groups]`, `[tool.pdm.dev-dependencies]`, and
 * poetry's dependency tables (keys are names). Read with a small TOML tokenizer, so extras such as
 * `torch[cuda]>=2` and `#` comments inside arrays are understood.
 */
export function declaredDependencies(pyproject: string): Set<string> {
  const out = new Set<string>();
  const toks = tomlTokens(pyproject);
  let k = 0;
  let table: string[] = [];
  const keyParts = (stop: (t: TomlToken) => boolean): string[] => {
    const parts: string[] = [];
    while (k < toks.length && !stop(toks[k])) {
      const t = toks[k++];
      if (t.t === "str") parts.push(t.v.trim());
      else if (t.t === "bare") parts.push(...t.v.split(".").map((x) => x.trim()).filter(Boolean));
    }
    return parts;
  };
  /** Skips one value; returns the strings directly inside it when it is an array. */
  const value = (): string[] | null => {
    const t = toks[k];
    if (!t) return null;
    if (t.t === "p" && (t.v === "[" || t.v === "{")) {
      const strings: string[] = [];
      let depth = 0;
      for (; k < toks.length; k++) {
        const u = toks[k];
        if (u.t === "p" && (u.v === "[" || u.v === "{")) depth++;
        else if (u.t === "p" && (u.v === "]" || u.v === "}")) {
          if (--depth === 0) {
            k++;
            break;
          }
        } else if (u.t === "str" && depth === 1 && t.v === "[") strings.push(u.v);
      }
      return t.v === "[" ? strings : null;
    }
    k++;
    return null;
  };
  const poetry = /^tool\.poetry\.(?:dependencies|dev-dependencies|group\.[^.]+\.dependencies)\.([^.]+)$/;
  while (k < toks.length) {
    const t = toks[k];
    if (t.t === "nl") {
      k++;
      continue;
    }
    if (t.t === "p" && t.v === "[") {
      k++;
      table = keyParts((u) => u.t === "nl" || (u.t === "p" && u.v === "]"));
      while (k < toks.length && toks[k].t !== "nl") k++;
      const pm = poetry.exec(table.join("."));
      if (pm && pm[1] !== "python") addDep(out, pm[1]);
      continue;
    }
    const key = keyParts((u) => u.t === "nl" || (u.t === "p" && u.v === "="));
    if (toks[k]?.t !== "p") continue; // a line without "=": not TOML we understand
    k++;
    const full = [...table, ...key].join(".");
    const strings = value();
    const pm = poetry.exec(full);
    if (pm && pm[1] !== "python") addDep(out, pm[1]);
    if (
      strings &&
      (/(^|\.)(dependencies|dev-dependencies|requires)$/.test(full) ||
        /^(project\.optional-dependencies|dependency-groups|tool\.pdm\.dev-dependencies)\.[^.]+$/.test(full))
    )
      for (const req of strings) {
        const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req);
        if (m) addDep(out, m[1]);
      }
    while (k < toks.length && toks[k].t !== "nl") k++;
  }
  return out;
}

function addDep(out: Set<string>, dist: string) {
  out.add(normName(dist));
  for (const a of IMPORT_ALIASES[distKey(dist)] ?? []) out.add(normName(a));
}

/** Top-level module names the project itself provides (tracked files at the base commit). */
export function projectModules(trackedPaths: string[]): Set<string> {
  const out = new Set<string>();
  for (const p of trackedPaths) {
    const parts = p.split("/");
    if (parts.length > 1) {
      // A directory is a package (or namespace package); in a src layout, so are src's children.
      out.add(normName(parts[0]));
      if (parts[0] === "src" && parts.length > 2) out.add(normName(parts[1]));
      if (parts[0] === "src" && parts.length === 2) addModuleFile(out, parts[1]);
    } else addModuleFile(out, parts[0]);
  }
  return out;
}

/** `x.py`, `x.pyi`, an extension module `x.cpython-311-x86_64-linux-gnu.so` or `x.pyd` → `x`. */
function addModuleFile(out: Set<string>, file: string) {
  const m = /^([A-Za-z_]\w*)(?:\.pyi?|(?:\.[\w-]+)?\.(?:so|pyd))$/.exec(file);
  if (m) out.add(normName(m[1]));
}

export interface DependencyPolicy {
  allowed: Set<string>;
  baseImports: Set<string>;
  baseInstallHits: number;
  baseComputedImports: number;
}

/** Imports that are not stdlib, not in the base version, not the project's own and not declared. */
export function newImports(imports: string[], policy: DependencyPolicy): string[] {
  return imports.filter((m) => !PYTHON_STDLIB.has(m) && !policy.baseImports.has(m) && !policy.allowed.has(normName(m)));
}

/**
 * Between two words of a command: spaces inside one string ("pip install x"), or the end of one
 * argv item and the start of the next (["pip", "install", x], also across lines). Not a bare
 * comma or a line break: `f(uv, add)` or a line ending in `uv` followed by `add = 1` is code.
 */
const SEP = String.raw`(?:[ \t]+|["']\s*,\s*["'])`;
const INSTALL_PATTERNS = [
  new RegExp(String.raw`\b(?:pip3?|uv|conda|mamba|micromamba|poetry|pipx|pdm)${SEP}(?:install|add)\b`, "gi"),
  new RegExp(String.raw`\buv${SEP}pip${SEP}install\b`, "gi"),
  new RegExp(String.raw`(?<![\w-])-m(?:${SEP})?pip\b`, "gi"),
  /\bensurepip\b/gi,
  /\bpip\.(?:main|_internal)\b/gi,
];

/** Package-install commands in code, also in argv-list form (["pip", "install", x]). */
export function installCommandHits(source: string): string[] {
  const hits: string[] = [];
  for (const re of INSTALL_PATTERNS) for (const m of source.matchAll(re)) hits.push(m[0].replace(/\s+/g, " "));
  return hits;
}

/** Files that are dependency manifests; changing them is adding dependencies. */
export const isDependencyManifest = (p: string) => /(^|\/)(pyproject\.toml|uv\.lock|requirements[^/]*\.txt|setup\.py|setup\.cfg|Pipfile(\.lock)?|environment\.ya?ml|poetry\.lock)$/.test(p);

export interface TreeViolation {
  path: string;
  what: string;
}

/**
 * Tracked or untracked changes outside the editable file: relative to the session base (committed
 * behind the server's back) and in the work tree (edited behind its back). Ignored files do not count.
 */
export async function treeViolations(repo: Repo, base: string, head: string, editable: string, status?: StatusEntry[]): Promise<TreeViolation[]> {
  const out: TreeViolation[] = [];
  for (const p of await repo.changedBetween(base, head)) if (p !== editable) out.push({ path: p, what: "committed since the session started" });
  for (const e of status ?? (await repo.status())) {
    if (e.path === editable) continue;
    out.push({ path: e.path, what: e.untracked ? "untracked file" : "changed in the work tree" });
  }
  return dedupe(out);
}

function dedupe(v: TreeViolation[]): TreeViolation[] {
  const seen = new Set<string>();
  return v.filter((x) => (seen.has(x.path + x.what) ? false : (seen.add(x.path + x.what), true)));
}

/** Reads the dependency policy of the session base: what imports and installs were already there. */
export async function dependencyPolicy(repo: Repo, base: string, editable: string, python: string): Promise<DependencyPolicy> {
  const tracked = (await repo.cli(["ls-tree", "-r", "--name-only", "-z", base])).split("\0").filter(Boolean);
  const allowed = projectModules(tracked);
  const pyproject = await repo.readFileAt(base, "pyproject.toml");
  if (pyproject) for (const d of declaredDependencies(pyproject.toString("utf8"))) allowed.add(d);
  const baseSource = (await repo.readFileAt(base, editable)) ?? Buffer.alloc(0);
  const report = await inspectSource(baseSource, path.basename(editable), python);
  return {
    allowed,
    baseImports: new Set(report.imports),
    baseInstallHits: installCommandHits(baseSource.toString("utf8")).length,
    baseComputedImports: report.computedImports,
  };
}

export function fileExists(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
