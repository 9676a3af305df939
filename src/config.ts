import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { checkRelativePath } from "./paths.js";

export const CONFIG_FILE = "autoresearch.json";

const relPath = (field: string) =>
  z.string().superRefine((v, ctx) => {
    const problem = checkRelativePath(v);
    if (problem) ctx.addIssue({ code: "custom", message: `${field} ${problem}` });
  });

const argv = z
  .array(z.string().min(1, "must not be an empty string").refine((v) => !v.includes("\0"), "must not contain a NUL byte"))
  .min(1, "must name a program: a non-empty array such as [\"python3\", \"train.py\"]");

/** The human-written `autoresearch.json`. Every field is optional; defaults fit karpathy/autoresearch. */
export const ConfigSchema = z
  .object({
    editable: relPath("editable").default("train.py"),
    readonly: z.array(relPath("readonly")).default(["prepare.py"]),
    run: argv.default(["uv", "run", "train.py"]),
    budgetSeconds: z.number().positive().max(86_400).default(300),
    killAfterSeconds: z.number().positive().max(172_800).optional(),
    graceSeconds: z.number().min(0).max(600).default(5),
    metric: z
      .object({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a plain key such as val_bpb"), goal: z.enum(["min", "max"]) })
      .strict()
      .default({ name: "val_bpb", goal: "min" }),
    memoryKey: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default("peak_vram_mb"),
    results: relPath("results").default("results.tsv"),
    log: relPath("log").default("run.log"),
    branchPrefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "must start with a letter or digit and use only letters, digits, . _ / -")
      // git check-ref-format: no "..", no empty or dot-led component, no ".lock" component end.
      .refine((v) => !/\.\.|\/\/|\/\.|\.lock(\/|$)/.test(v), "must be usable in a git branch name (no \"..\", \"//\", \"/.\" or \".lock\")")
      .default("autoresearch/"),
    checks: z.array(argv).default([]),
    checkTimeoutSeconds: z.number().positive().max(86_400).default(600),
    // Files the agent may read (never change) besides the read-only ones, where they exist:
    // program.md says to read README.md; pyproject.toml says which packages are allowed.
    readable: z.array(relPath("readable")).default(["README.md", "program.md", "pyproject.toml"]),
    stopAt: z
      .string()
      .refine((v) => /^([01]?\d|2[0-3]):[0-5]\d$/.test(v) || (/^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v))), 'must be a clock time such as "07:00" or an ISO date-time such as "2026-12-02T07:00"')
      .optional(),
    maxRuns: z.number().int().positive().optional(),
    maxMemoryGb: z.number().positive().optional(),
    maxWaitSeconds: z.number().min(10).max(86_400).optional(),
    // The noise-aware keep rule (rules/noise.ts); false gives the strict rule (keep iff better than the best single run).
    noise: z
      .preprocess(
        (v) => (v === true ? {} : v),
        z.union(
          [
            z.literal(false),
            z
              .object({
                baselineRuns: z.number().int().min(1).max(10).default(2),
                confirmRuns: z.number().int().min(0).max(10).default(1),
                // a new keep this many standard errors ahead is not confirmed (rules/noise.ts)
                clearLead: z.union([z.number().min(1).max(1000), z.literal(false)], { error: "must be a number of standard errors from 1 to 1000, or false (confirm every keep)" }).default(5),
              })
              .strict(),
          ],
          { error: 'must be false (the strict rule), true (the defaults) or an object such as {"baselineRuns": 2, "confirmRuns": 1, "clearLead": 5}' },
        ),
      )
      .default({ baselineRuns: 2, confirmRuns: 1, clearLead: 5 }),
    // One slot per GPU: a run gets CUDA_VISIBLE_DEVICES=<id>, two runs never share one (SPEC §8).
    gpus: z
      .array(z.union([z.number().int().min(0), z.string().regex(/^[A-Za-z0-9:._-]+$/, "must be a GPU index or id such as 0 or \"GPU-5b3f…\"")]))
      .min(1, "must list at least one GPU (leave it out for one slot with the ambient environment)")
      .max(64)
      .refine((g) => new Set(g.map(String)).size === g.length, "must not list a GPU twice (two runs would share it)")
      .optional(),
    // The metric function of the read-only evaluation (evaluation.ts); false: no check. Default:
    // prepare.evaluate_bpb where the read-only prepare.py defines it.
    evaluation: z
      .union([
        z.literal(false),
        z
          .object({
            module: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, "must be a module name such as prepare"),
            function: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a function name such as evaluate_bpb"),
          })
          .strict(),
      ])
      .optional(),
    // Where runs execute: this machine (the default), or Slurm jobs (SPEC §8, executor/slurm.ts).
    executor: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("local") }).strict(),
        z
          .object({
            type: z.literal("slurm"),
            sbatch: z.array(z.string().min(1, "must not be an empty string").refine((v) => !v.includes("\0"), "must not contain a NUL byte")).default([]),
            maxJobs: z.number().int().min(1).max(256).default(1),
            pollSeconds: z.number().min(0.2).max(60).default(2),
          })
          .strict(),
      ])
      .optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"), z.string()).default({}),
    python: z.string().min(1).default("python3"),
    syntaxCheck: z.boolean().default(true),
  })
  .strict();

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = Omit<z.output<typeof ConfigSchema>, "killAfterSeconds"> & { killAfterSeconds: number };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Issue = z.core.$ZodIssue;

/** One zod issue as a line of the error, its path under `prefix`. */
function describeIssue(raw: unknown, i: Issue, prefix: PropertyKey[]): string[] {
  const at = [...prefix, ...i.path];
  const field = at.length ? at.map(String).join(".") : "(top level)";
  if (i.code === "unrecognized_keys") return [`unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}${at.length ? ` in ${field}` : ""}`];
  if (i.code === "invalid_type") {
    const got = typeName(valueAt(raw, at));
    const argvField = (at.length === 1 && at[0] === "run") || (at.length === 2 && at[0] === "checks");
    const hint = argvField && got === "string" && i.expected === "array" ? ' (an argv list such as ["uv", "run", "train.py"], not a shell string)' : "";
    return [`${field}: expected ${i.expected}, got ${got}${hint}`];
  }
  // zod 4 wraps a bad record key ("Invalid key in record"); the useful message is inside.
  if (i.code === "invalid_key") return [`${field}: ${i.issues.map((x) => x.message).join("; ") || i.message}`];
  // A union whose one branch took the value's type and failed inside it (noise: {...} with a bad
  // field) says what failed inside, not "Invalid input".
  if (i.code === "invalid_union") {
    const inside = i.errors.filter((branch) => branch.length && branch.every((x) => x.path.length > 0));
    if (inside.length === 1) return inside[0].flatMap((x) => describeIssue(raw, x, at));
  }
  return [`${field}: ${i.message}`];
}

/** Validates a parsed config object; errors name the field ("autoresearch.json: run: ..."). */
export function parseConfig(raw: unknown, source = CONFIG_FILE): Config {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`${source}: must be a JSON object`);
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.flatMap((i) => describeIssue(raw, i, []));
    throw new ConfigError(`${source}: ${lines.join("; ")}`);
  }
  const c = r.data;
  const killAfterSeconds = c.killAfterSeconds ?? 2 * c.budgetSeconds;
  if (killAfterSeconds < c.budgetSeconds) throw new ConfigError(`${source}: killAfterSeconds (${killAfterSeconds}) must be at least budgetSeconds (${c.budgetSeconds})`);
  if (c.executor?.type === "slurm" && c.gpus)
    throw new ConfigError(`${source}: gpus is for slots on this machine; with the Slurm executor the cluster gives each job its GPU: ask for it in executor.sbatch (e.g. "--gres=gpu:1") and set executor.maxJobs`);
  const reserved = (c.executor?.type === "slurm" ? c.executor.sbatch : []).find((a) => /^--(parsable|output|error|chdir|job-name|open-mode|wrap)\b|^-[oeDJ]/.test(a));
  if (reserved) throw new ConfigError(`${source}: executor.sbatch: "${reserved}" is set by the server for each run (its log, its directory, its name); leave it out`);
  const named: [string, string][] = [["editable", c.editable], ...c.readonly.map((p, i): [string, string] => [`readonly.${i}`, p]), ["results", c.results], ["log", c.log]];
  const seen = new Map<string, string>();
  for (const [field, p] of named) {
    const n = normPath(p);
    if (n === CONFIG_FILE) throw new ConfigError(`${source}: ${field}: "${p}" is ${CONFIG_FILE} itself, which only the human edits`);
    const other = seen.get(n);
    if (other) throw new ConfigError(`${source}: ${field} and ${other} both name "${p}"; editable, readonly, results and log must all name different files`);
    seen.set(n, field);
  }
  return { ...c, killAfterSeconds };
}

const normPath = (p: string) => path.posix.normalize(p.replace(/\\/g, "/")).replace(/\/+$/, "");

function valueAt(raw: unknown, at: PropertyKey[]): unknown {
  let v = raw;
  for (const k of at) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

const typeName = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** Reads `autoresearch.json` from the workspace; a missing file means all defaults. */
export function loadConfig(workspace: string): Config {
  const file = path.join(workspace, CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return parseConfig({});
    throw new ConfigError(`${CONFIG_FILE}: cannot be read (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    // Editors on Windows save JSON with a byte order mark, which JSON.parse refuses.
    raw = JSON.parse(text.replace(/^\ufeff/, ""));
  } catch (e) {
    throw new ConfigError(`${CONFIG_FILE}: not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(raw);
}
