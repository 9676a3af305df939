import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { PYTHON_STDLIB } from "./python-stdlib.js";
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

const INSPECT_PY = String.raw`
import ast, sys, json
name = sys.argv[1]
src = sys.stdin.buffer.read()
out = {"error": None, "imports": [], "computed": 0}
try:
    tree = compile(src, name, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    compile(tree, name, "exec", dont_inherit=True)
except SyntaxError as e:
    out["error"] = {"message": "%s: %s" % (type(e).__name__, e.msg), "line": e.lineno, "col": e.offset, "text": (e.text or "").rstrip()[:200]}
    tree = None
except (ValueError, UnicodeDecodeError) as e:
    out["error"] = {"message": "%s: %s" % (type(e).__name__, e), "line": None, "col": None, "text": ""}
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
sys.stdout.write(json.dumps(out))
`;

export async function inspectSource(source: string | Buffer, fileName: string, python: string): Promise<SourceReport> {
  try {
    const r = await execa(python, ["-I", "-S", "-c", INSPECT_PY, fileName], { input: Buffer.isBuffer(source) ? source : Buffer.from(source, "utf8"), reject: false, timeout: 30_000, maxBuffer: 4 << 20 });
    if (r.exitCode === 0) {
      const j = JSON.parse(String(r.stdout)) as { error: SourceReport["syntaxError"]; imports: string[]; computed: number };
      return { syntaxError: j.error, imports: j.imports, computedImports: j.computed, checkedByPython: true };
    }
  } catch {
    /* no such python: fall back below */
  }
  const text = Buffer.isBuffer(source) ? source.toString("utf8") : source;
  return { syntaxError: null, ...scanImports(text), checkedByPython: false };
}

/** Line-based import scan, used only when no Python is available. */
export function scanImports(text: string): { imports: string[]; computedImports: number } {
  const names = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, "");
    let m = /^\s*import\s+(.+)$/.exec(line);
    if (m) for (const part of m[1].split(",")) {
      const n = part.trim().split(/\s+/)[0]?.split(".")[0];
      if (n && /^[A-Za-z_]\w*$/.test(n)) names.add(n);
    }
    m = /^\s*from\s+([A-Za-z_][\w.]*)\s+import\b/.exec(line);
    if (m) names.add(m[1].split(".")[0]);
    for (const d of line.matchAll(/(?:__import__|import_module)\(\s*["']([A-Za-z_][\w.]*)["']/g)) names.add(d[1].split(".")[0]);
  }
  const computedImports = (text.match(/(?:__import__|import_module)\(\s*[^"'\s)]/g) ?? []).length;
  return { imports: [...names].sort(), computedImports };
}

/** Distribution names whose import name differs. */
const IMPORT_ALIASES: Record<string, string[]> = {
  "scikit-learn": ["sklearn"],
  pillow: ["PIL"],
  pyyaml: ["yaml"],
  "opencv-python": ["cv2"],
  "opencv-python-headless": ["cv2"],
  beautifulsoup4: ["bs4"],
  "python-dateutil": ["dateutil"],
  protobuf: ["google"],
  "typing-extensions": ["typing_extensions"],
  "pytorch-lightning": ["pytorch_lightning", "lightning"],
  "huggingface-hub": ["huggingface_hub"],
};

const normName = (s: string) => s.toLowerCase().replace(/[-_.]+/g, "_");

/** Dependency names declared anywhere in pyproject.toml (project deps, optional, groups, uv dev). */
export function declaredDependencies(pyproject: string): Set<string> {
  const out = new Set<string>();
  // Every quoted requirement string inside an array that belongs to a dependency key or table.
  const sections = pyproject.split(/^\s*\[/m);
  for (const sec of sections) {
    const header = sec.slice(0, sec.indexOf("]") + 1);
    const depTable = /^(project\.optional-dependencies|dependency-groups|tool\.poetry\.(dev-)?dependencies|tool\.poetry\.group\.[^\]]+\.dependencies)\]/.test(header);
    const body = sec.slice(header.length);
    const arrays = depTable
      ? [body]
      : [...body.matchAll(/^\s*(dependencies|dev-dependencies|requires)\s*=\s*\[([\s\S]*?)\]/gm)].map((m) => m[2]);
    for (const a of arrays) {
      for (const q of a.matchAll(/["']([A-Za-z0-9][A-Za-z0-9._-]*)/g)) addDep(out, q[1]);
      if (/^tool\.poetry/.test(header)) for (const k of body.matchAll(/^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=/gm)) addDep(out, k[1]);
    }
  }
  return out;
}

function addDep(out: Set<string>, dist: string) {
  out.add(normName(dist));
  for (const a of IMPORT_ALIASES[dist.toLowerCase()] ?? []) out.add(normName(a));
}

/** Top-level module names the project itself provides (tracked files at the base commit). */
export function projectModules(trackedPaths: string[]): Set<string> {
  const out = new Set<string>();
  for (const p of trackedPaths) {
    const first = p.split("/")[0];
    if (p.includes("/")) out.add(normName(first));
    else if (first.endsWith(".py")) out.add(normName(first.slice(0, -3)));
  }
  return out;
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

const INSTALL_PATTERNS = [
  /\b(?:pip3?|uv|conda|mamba|micromamba|poetry|pipx|pdm)\s+(?:install|add)\b/gi,
  /\buv\s+pip\s+install\b/gi,
  /-m\s+pip\b/gi,
  /\bensurepip\b/gi,
  /\bpip\.main\b/gi,
];

/** Package-install commands in code, also in argv-list form (["pip", "install", x]). */
export function installCommandHits(source: string): string[] {
  const flat = source.replace(/["',[\]()]/g, " ").replace(/\s+/g, " ");
  const hits: string[] = [];
  for (const re of INSTALL_PATTERNS) for (const m of flat.matchAll(re)) hits.push(m[0]);
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
