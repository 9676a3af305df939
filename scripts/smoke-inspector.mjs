#!/usr/bin/env node
// Smoke test with the MCP Inspector CLI, the command the README documents:
//   npx -y @modelcontextprotocol/inspector --cli node dist/cli.js serve --workspace <ws> --method tools/list
// then --method tools/call --tool-name status. The Inspector is fetched by npx from the npm registry
// into npm's own cache (never a dependency of this package). On Node 20 npm resolves the newest
// Inspector whose `engines` allow it (0.15.0; 0.16+ declare Node >= 22.7.5).
//
//   node scripts/smoke-inspector.mjs [--inspector <npm spec>] [--keep]
// Env: INSPECTOR_SPEC (default @modelcontextprotocol/inspector). Exit 0 on PASS, 1 on FAIL.

import { parseArgs } from "node:util";
import { leftovers, run } from "./procs.mjs";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(REPO, "dist", "cli.js");
const EXAMPLE = path.join(REPO, "examples", "tiny-lm");
const EXPECTED_TOOLS = ["start_session", "status", "read_train", "apply_patch", "commit", "run_training", "parse_metrics", "log_result", "reset_to_best"];

let args;
try {
  args = parseArgs({ options: { keep: { type: "boolean" }, inspector: { type: "string" } } }).values;
} catch (e) {
  console.error(`smoke-inspector: ${e.message}\nusage: node scripts/smoke-inspector.mjs [--inspector <npm spec>] [--keep]`);
  process.exit(2);
}
const keep = !!args.keep;
const spec = args.inspector ?? process.env.INSPECTOR_SPEC ?? "@modelcontextprotocol/inspector";

const NPX = process.platform === "win32" ? "npx.cmd" : "npx";
const t0 = Date.now();
const checks = [];
const check = (name, ok, detail = "") => {
  checks.push({ name, ok: !!ok, detail });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
  return !!ok;
};
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const tail = (s, n = 15) => s.trim().split("\n").filter((l) => !/Unknown user config/.test(l)).slice(-n).join("\n");

if (!fs.existsSync(CLI)) {
  console.error(`smoke-inspector: ${CLI} is missing: run "npm run build" first`);
  process.exit(1);
}

// A throwaway workspace: the example, committed, outside the repository.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ar-smoke-inspector-"));
const ws = path.join(tmp, "ws");
fs.cpSync(EXAMPLE, ws, { recursive: true });
for (const args of [["init", "-q"], ["add", "-A"], ["-c", "user.name=smoke", "-c", "user.email=smoke@example.invalid", "commit", "-q", "-m", "tiny-lm example"]]) {
  const r = spawnSync("git", args, { cwd: ws, encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`smoke-inspector: git ${args.join(" ")} failed: ${r.stderr}`);
    process.exit(1);
  }
}

console.log(`smoke-inspector: ${process.version}, workspace ${ws}`);
// Run npx outside the repository so it cannot pick a package from this project's node_modules.
const npxCwd = tmp;
const serverCmd = [process.execPath, CLI, "serve", "--workspace", ws];

// Which Inspector did npx resolve? Read its package.json through the bin folder npx puts on PATH.
const probe = `node -e "const p=require('path'),f=require('fs');for(const d of process.env.PATH.split(p.delimiter)){const j=p.join(d,'..','@modelcontextprotocol','inspector','package.json');if(f.existsSync(j)){console.log(JSON.parse(f.readFileSync(j,'utf8')).version);break}}"`;
const ver = await run(NPX, ["-y", "-p", spec, "-c", probe], { cwd: npxCwd });
const inspectorVersion = ver.code === 0 ? ver.stdout.trim().split("\n").pop() : "";
check(`npx resolves ${spec}`, ver.code === 0 && inspectorVersion, ver.code === 0 ? `version ${inspectorVersion || "?"} (${secs(ver.ms)})` : tail(ver.stderr));

const list = await run(NPX, ["-y", spec, "--cli", ...serverCmd, "--method", "tools/list"], { cwd: npxCwd });
const listed = parseJson(list.stdout);
const names = Array.isArray(listed?.tools) ? listed.tools.map((t) => t.name) : [];
if (check("tools/list answers", list.code === 0 && names.length > 0, list.code === 0 ? `${names.length} tools (${secs(list.ms)})` : `exit ${list.code}\n${tail(list.stderr)}`)) {
  const missing = EXPECTED_TOOLS.filter((n) => !names.includes(n));
  const extra = names.filter((n) => !EXPECTED_TOOLS.includes(n));
  check("the 9 tools are listed", missing.length === 0 && extra.length === 0 && names.length === 9, `${names.join(", ")}${missing.length ? `; missing ${missing.join(", ")}` : ""}${extra.length ? `; unexpected ${extra.join(", ")}` : ""}`);
  const noOutputSchema = listed.tools.filter((t) => !t.outputSchema).map((t) => t.name);
  check("every tool has an outputSchema and a title", noOutputSchema.length === 0 && listed.tools.every((t) => t.title), noOutputSchema.length ? `without outputSchema: ${noOutputSchema.join(", ")}` : "");
}

const call = await run(NPX, ["-y", spec, "--cli", ...serverCmd, "--method", "tools/call", "--tool-name", "status"], { cwd: npxCwd });
const res = parseJson(call.stdout);
const text = Array.isArray(res?.content) ? res.content.filter((c) => c.type === "text").map((c) => c.text).join("\n") : "";
if (check("tools/call status answers", call.code === 0 && text.length > 0 && res.isError !== true, call.code === 0 ? `${secs(call.ms)}: ${JSON.stringify(text.split("\n")[0])}` : `exit ${call.code}\n${tail(call.stderr)}`)) {
  check("status reports no session on a fresh workspace", /No session/.test(text) && res.structuredContent?.session === null && res.structuredContent?.branch, `branch ${res.structuredContent?.branch}, head ${res.structuredContent?.head}`);
}

// The server must exit with the Inspector: no process of ours may be left on the workspace.
const left = await leftovers(ws);
check("no server process left behind", left.length === 0, left.map((p) => `${p.pid} ${p.cmd}`).join("; "));

const failed = checks.filter((c) => !c.ok);
if (!keep && failed.length === 0) fs.rmSync(tmp, { recursive: true, force: true });
console.log(
  `\n${failed.length ? "FAIL" : "PASS"} smoke:inspector — ${checks.length - failed.length}/${checks.length} checks, Inspector ${inspectorVersion || "?"}, ${secs(Date.now() - t0)}` +
    (failed.length || keep ? `; workspace kept at ${ws}` : ""),
);
process.exit(failed.length ? 1 : 0);

