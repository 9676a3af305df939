// Regenerates the tool reference in README.md from the real tools/list answer of the built
// server (npm run docs). test/readme.test.ts fails when README.md and the schemas disagree.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const START = "<!-- START GENERATED TOOLS -->";
export const END = "<!-- END GENERATED TOOLS -->";

export async function listTools() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-docs-"));
  const transport = new StdioClientTransport({ command: process.execPath, args: [path.join(ROOT, "dist/cli.js"), "serve", "--workspace", dir], stderr: "ignore" });
  const client = new Client({ name: "gen-readme", version: "0" });
  await client.connect(transport);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const typeOf = (s) => (s.type === "array" ? `${typeOf(s.items ?? {})}[]` : s.enum ? s.enum.map((v) => `"${v}"`).join(" \\| ") : (s.type ?? "object"));

export function renderTools(tools) {
  const out = [];
  for (const t of tools) {
    const a = t.annotations ?? {};
    const hints = [a.readOnlyHint ? "read-only" : null, a.destructiveHint ? "destructive" : null, a.idempotentHint ? "idempotent" : null].filter(Boolean).join(", ") || "additive";
    out.push(`### \`${t.name}\`: ${t.title}`, "", t.description, "", `Hints: ${hints}.`, "");
    const props = Object.entries(t.inputSchema.properties ?? {});
    if (props.length) {
      const req = new Set(t.inputSchema.required ?? []);
      out.push("| parameter | type | required | description |", "|---|---|---|---|");
      for (const [name, s] of props) out.push(`| \`${name}\` | ${typeOf(s)} | ${req.has(name) ? "yes" : "no"} | ${(s.description ?? "").replace(/\|/g, "\\|")} |`);
    } else out.push("No parameters.");
    out.push("");
  }
  return out.join("\n");
}

export function spliceReadme(readme, section) {
  const i = readme.indexOf(START);
  const j = readme.indexOf(END);
  if (i < 0 || j < 0 || j < i) throw new Error(`README.md must contain ${START} and ${END}`);
  return readme.slice(0, i + START.length) + "\n\n" + section + "\n" + readme.slice(j);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const file = path.join(ROOT, "README.md");
  const next = spliceReadme(fs.readFileSync(file, "utf8"), renderTools(await listTools()));
  fs.writeFileSync(file, next);
  process.stdout.write("README.md tool reference regenerated\n");
}
