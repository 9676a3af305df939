import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_FILE, ConfigError, loadConfig, parseConfig } from "../src/config.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "arconfig-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
let n = 0;
function workspaceWith(content?: string | Buffer): string {
  const dir = path.join(TMP, `ws-${n++}`);
  fs.mkdirSync(dir);
  if (content !== undefined) fs.writeFileSync(path.join(dir, CONFIG_FILE), content);
  return dir;
}

function configError(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("defaults (SPEC §2: fit karpathy/autoresearch as published)", () => {
  it("an empty object gives every default", () => {
    expect(parseConfig({})).toEqual({
      editable: "train.py",
      readonly: ["prepare.py"],
      run: ["uv", "run", "train.py"],
      budgetSeconds: 300,
      killAfterSeconds: 600,
      graceSeconds: 5,
      metric: { name: "val_bpb", goal: "min" },
      memoryKey: "peak_vram_mb",
      results: "results.tsv",
      log: "run.log",
      branchPrefix: "autoresearch/",
      checks: [],
      checkTimeoutSeconds: 600,
      readable: ["README.md", "program.md", "pyproject.toml"],
      env: {},
      python: "python3",
      syntaxCheck: true,
      noise: { baselineRuns: 2, confirmRuns: 1, clearLead: 5 },
    });
  });

  it("noise: false is the strict rule; true or a partial object fill in the repeats; bad values are named", () => {
    expect(parseConfig({ noise: false }).noise).toBe(false);
    expect(parseConfig({ noise: true }).noise).toEqual({ baselineRuns: 2, confirmRuns: 1, clearLead: 5 });
    expect(parseConfig({ noise: { baselineRuns: 3 } }).noise).toEqual({ baselineRuns: 3, confirmRuns: 1, clearLead: 5 });
    expect(parseConfig({ noise: { confirmRuns: 0 } }).noise).toEqual({ baselineRuns: 2, confirmRuns: 0, clearLead: 5 });
    expect(parseConfig({ noise: { clearLead: false } }).noise).toEqual({ baselineRuns: 2, confirmRuns: 1, clearLead: false });
    expect(parseConfig({ noise: { clearLead: 2.5 } }).noise).toEqual({ baselineRuns: 2, confirmRuns: 1, clearLead: 2.5 });
    expect(() => parseConfig({ noise: { clearLead: 0.5 } })).toThrow(/noise.*clearLead/);
    expect(() => parseConfig({ noise: { clearLead: true } })).toThrow(/noise.*clearLead/);
    expect(() => parseConfig({ noise: { baselineRuns: 0 } })).toThrow(/noise/);
    expect(() => parseConfig({ noise: { baselineRuns: 1.5 } })).toThrow(/noise/);
    expect(() => parseConfig({ noise: { sigma: 0.001 } })).toThrow(/noise/);
    expect(() => parseConfig({ noise: "off" })).toThrow(/noise/);
  });

  it("gpus: one slot per GPU index or id; absent is one slot; a GPU listed twice, an empty list or a bad id is named", () => {
    expect(parseConfig({}).gpus).toBeUndefined();
    expect(parseConfig({ gpus: [0, 1, 2, 3] }).gpus).toEqual([0, 1, 2, 3]);
    expect(parseConfig({ gpus: ["GPU-5b3f2a", "MIG-1c2d"] }).gpus).toEqual(["GPU-5b3f2a", "MIG-1c2d"]);
    expect(() => parseConfig({ gpus: [0, 0] })).toThrow(/gpus: must not list a GPU twice/);
    expect(() => parseConfig({ gpus: [1, "1"] })).toThrow(/must not list a GPU twice/);
    expect(() => parseConfig({ gpus: [] })).toThrow(/gpus: must list at least one GPU/);
    expect(() => parseConfig({ gpus: [-1] })).toThrow(/gpus\.0/);
    expect(() => parseConfig({ gpus: ["0,1"] })).toThrow(/gpus\.0/);
    expect(() => parseConfig({ gpus: "0,1" })).toThrow(/gpus: expected array/);
  });

  it("killAfterSeconds defaults to 2 × budgetSeconds", () => {
    expect(parseConfig({ budgetSeconds: 60 }).killAfterSeconds).toBe(120);
    expect(parseConfig({ budgetSeconds: 60, killAfterSeconds: 90 }).killAfterSeconds).toBe(90);
    expect(parseConfig({ budgetSeconds: 60, killAfterSeconds: 60 }).killAfterSeconds).toBe(60);
  });

  it("defaults are fresh objects per parse (mutating one config cannot change the next)", () => {
    const a = parseConfig({});
    a.readonly.push("x.py");
    a.run.push("--flag");
    expect(parseConfig({}).readonly).toEqual(["prepare.py"]);
    expect(parseConfig({}).run).toEqual(["uv", "run", "train.py"]);
  });

  it("a missing autoresearch.json means all defaults", () => {
    expect(loadConfig(workspaceWith())).toEqual(parseConfig({}));
  });
});

describe("errors name the field", () => {
  it.each([
    ["unknown key", { budget: 300 }, /^autoresearch\.json: unknown field "budget"$/],
    ["several unknown keys", { a: 1, b: 2 }, /unknown fields "a", "b"/],
    ["unknown key inside metric", { metric: { name: "val_bpb", goal: "min", unit: "bits" } }, /unknown field "unit" in metric/],
    ["run as a string instead of argv", { run: "uv run train.py" }, /run: expected array, got string \(an argv list such as \["uv", "run", "train\.py"\], not a shell string\)/],
    ["empty argv", { run: [] }, /run: must name a program: a non-empty array/],
    ["an empty argv element", { run: ["python3", ""] }, /run\.1: must not be an empty string/],
    ["a NUL byte in argv", { run: ["python3", "train.py\0"] }, /run\.1: must not contain a NUL byte/],
    ["a check as a string", { checks: ["test -d data"] }, /checks\.0: expected array, got string \(an argv list/],
    ["negative budget", { budgetSeconds: -5 }, /budgetSeconds: Too small/],
    ["zero budget", { budgetSeconds: 0 }, /budgetSeconds:/],
    ["budget as a string", { budgetSeconds: "300" }, /budgetSeconds: expected number, got string/],
    ["killAfterSeconds below budget", { budgetSeconds: 300, killAfterSeconds: 100 }, /killAfterSeconds \(100\) must be at least budgetSeconds \(300\)/],
    ["results path with ..", { results: "../results.tsv" }, /results: results leaves the workspace/],
    ["results path absolute", { results: "/tmp/results.tsv" }, /results: results is absolute/],
    ["log path into .git", { log: ".git/run.log" }, /log: log points into \.git/],
    ["editable Windows-absolute", { editable: "C:\\train.py" }, /editable: editable is absolute/],
    ["readonly entry with ..", { readonly: ["prepare.py", "../x.py"] }, /readonly\.1: readonly leaves the workspace/],
    ["readonly as a string", { readonly: "prepare.py" }, /readonly: expected array, got string/],
    ["readonly element of the wrong type", { readonly: [1] }, /readonly\.0: expected string, got number/],
    ["metric of the wrong type", { metric: "val_bpb" }, /metric: expected object, got string/],
    ["metric goal not min/max", { metric: { name: "val_bpb", goal: "minimize" } }, /metric\.goal: Invalid option/],
    ["metric name not a plain key", { metric: { name: "val bpb", goal: "min" } }, /metric\.name: must be a plain key/],
    ["memoryKey not a plain key", { memoryKey: "peak vram" }, /memoryKey:/],
    ["branchPrefix starting with -", { branchPrefix: "-x/" }, /branchPrefix: must start with a letter or digit/],
    ["branchPrefix with ..", { branchPrefix: "a..b/" }, /branchPrefix: must be usable in a git branch name/],
    ["branchPrefix with .lock", { branchPrefix: "a.lock/" }, /branchPrefix: must be usable in a git branch name/],
    ["env name invalid", { env: { "BAD-NAME": "1" } }, /env\.BAD-NAME: must be an environment variable name/],
    ["syntaxCheck not boolean", { syntaxCheck: "yes" }, /syntaxCheck: expected boolean, got string/],
    ["editable also readonly (duplicate file names)", { readonly: ["train.py"] }, /readonly\.0 and editable both name "train\.py"/],
    ["results = log", { results: "out.txt", log: "out.txt" }, /log and results both name "out\.txt"/],
    ["duplicate after normalisation", { readonly: ["prepare.py", "./prepare.py"] }, /readonly\.1 and readonly\.0 both name "\.\/prepare\.py"/],
    ["editable is autoresearch.json", { editable: "autoresearch.json" }, /editable: "autoresearch\.json" is autoresearch\.json itself/],
    ["log is autoresearch.json (the run would overwrite the config)", { log: "./autoresearch.json" }, /log: "\.\/autoresearch\.json" is autoresearch\.json itself/],
    ["results is autoresearch.json", { results: "autoresearch.json" }, /results: "autoresearch\.json" is autoresearch\.json itself/],
  ])("%s", (_rule, raw, message) => {
    const msg = configError(raw);
    expect(msg).toMatch(/^autoresearch\.json: /);
    expect(msg).toMatch(message);
  });

  it.each([null, [], "train.py", 3])("a config that is not an object (%j) is refused", (raw) => {
    expect(configError(raw)).toBe("autoresearch.json: must be a JSON object");
  });

  it("several problems are all listed", () => {
    const msg = configError({ run: "x", budgetSeconds: "y", nope: 1 });
    expect(msg).toMatch(/run:/);
    expect(msg).toMatch(/budgetSeconds:/);
    expect(msg).toMatch(/unknown field "nope"/);
  });

  it("a different source name is used in messages", () => {
    expect(() => parseConfig({ x: 1 }, "custom.json")).toThrow(/^custom\.json: unknown field "x"$/);
  });
});

describe("loadConfig", () => {
  it("reads the file from the workspace", () => {
    const c = loadConfig(workspaceWith(JSON.stringify({ run: ["python3", "train.py"], budgetSeconds: 5 })));
    expect(c).toMatchObject({ run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: 10 });
  });

  it("invalid JSON is a ConfigError that says so", () => {
    const dir = workspaceWith('{ "run": ["python3", "train.py"], }');
    expect(() => loadConfig(dir)).toThrow(ConfigError);
    expect(() => loadConfig(dir)).toThrow(/^autoresearch\.json: not valid JSON/);
  });

  it("a JSON file saved with a byte order mark (Windows editors) is read", () => {
    const dir = workspaceWith(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"budgetSeconds": 10}')]));
    expect(loadConfig(dir).budgetSeconds).toBe(10);
  });

  it("an unreadable config (a directory) is a ConfigError", () => {
    const dir = workspaceWith();
    fs.mkdirSync(path.join(dir, CONFIG_FILE));
    expect(() => loadConfig(dir)).toThrow(/^autoresearch\.json: cannot be read/);
  });

  it("errors from the file name the field", () => {
    expect(() => loadConfig(workspaceWith('{"budgetSeconds": -1}'))).toThrow(/^autoresearch\.json: budgetSeconds:/);
  });
});
