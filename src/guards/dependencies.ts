import path from "node:path";
import { PYTHON_STDLIB } from "../python-stdlib.js";
import type { Repo } from "../git.js";
import { inspectSource } from "./source.js";

/**
 * No new dependencies: what the session base already imports and declares (pyproject.toml, the
 * project's own modules, the standard library) is allowed; any other import or an install command is not.
 */

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
