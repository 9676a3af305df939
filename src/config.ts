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

const argv = z.array(z.string().min(1)).min(1, "must name a program: a non-empty array such as [\"python3\", \"train.py\"]");

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
      .default("autoresearch/"),
    checks: z.array(argv).default([]),
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

/** Validates a parsed config object; errors name the field ("autoresearch.json: run: ..."). */
export function parseConfig(raw: unknown, source = CONFIG_FILE): Config {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`${source}: must be a JSON object`);
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const field = i.path.length ? i.path.join(".") : "(top level)";
      if (i.code === "unrecognized_keys") return `unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}${i.path.length ? ` in ${field}` : ""}`;
      if (i.code === "invalid_type") return `${field}: expected ${i.expected}`;
      return `${field}: ${i.message}`;
    });
    throw new ConfigError(`${source}: ${lines.join("; ")}`);
  }
  const c = r.data;
  const killAfterSeconds = c.killAfterSeconds ?? 2 * c.budgetSeconds;
  if (killAfterSeconds < c.budgetSeconds) throw new ConfigError(`${source}: killAfterSeconds (${killAfterSeconds}) must be at least budgetSeconds (${c.budgetSeconds})`);
  const names = [c.editable, ...c.readonly, c.results, c.log].map((p) => path.posix.normalize(p));
  if (new Set(names).size !== names.length) throw new ConfigError(`${source}: editable, readonly, results and log must all name different files`);
  if (c.readonly.map((p) => path.posix.normalize(p)).includes(CONFIG_FILE) || path.posix.normalize(c.editable) === CONFIG_FILE)
    throw new ConfigError(`${source}: ${CONFIG_FILE} itself cannot be editable or listed as readonly`);
  return { ...c, killAfterSeconds };
}

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
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${CONFIG_FILE}: not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(raw);
}
