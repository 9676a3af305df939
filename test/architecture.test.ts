import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe("layout", () => {
  it("keeps MCP out of the domain: only cli, server, http (the transport), demo (a client) and tools/ import the SDK", () => {
    const offenders = files(SRC)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => path.relative(SRC, f).split(path.sep).join("/"))
      .filter((rel) => !["cli.ts", "server.ts", "http.ts", "demo.ts"].includes(rel) && !rel.startsWith("tools/"))
      .filter((rel) => /@modelcontextprotocol\//.test(fs.readFileSync(path.join(SRC, rel), "utf8")));
    expect(offenders).toEqual([]);
  });
  it("never writes to stdout from the server side (stdout is JSON-RPC only)", () => {
    const offenders = files(SRC)
      .filter((f) => f.endsWith(".ts") && !/(cli|demo|init|report)\.ts$/.test(f))
      .filter((f) => /console\.log|process\.stdout\.write/.test(fs.readFileSync(f, "utf8")));
    expect(offenders).toEqual([]);
  });
  it("has one file per tool under src/tools, named after the tool", async () => {
    const { TOOLS } = await import("../src/tools/index.js");
    for (const t of TOOLS) expect(fs.existsSync(path.join(SRC, "tools", `${t.name.replace(/_/g, "-")}.ts`)), t.name).toBe(true);
  });
  it("keeps the rules pure: nothing under src/rules reads files, starts processes or touches git", () => {
    const offenders = files(path.join(SRC, "rules"))
      .filter((f) => /import (?!type)[^;]*from "(node:|execa|isomorphic-git|\.\.\/(git|files|paths|session|executor\/local))/.test(fs.readFileSync(f, "utf8")))
      .map((f) => path.relative(SRC, f));
    expect(offenders).toEqual([]);
  });
  it("has no module over 500 lines and no class over 300 (split by responsibility when one grows)", () => {
    const big: string[] = [];
    for (const f of files(SRC).filter((x) => x.endsWith(".ts"))) {
      const lines = fs.readFileSync(f, "utf8").split("\n");
      if (lines.length > 500) big.push(`${path.relative(SRC, f)}: ${lines.length} lines`);
      lines.forEach((l, i) => {
        if (!/^(export )?class /.test(l)) return;
        const end = lines.findIndex((x, j) => j > i && x === "}");
        if (end - i + 1 > 300) big.push(`${path.relative(SRC, f)}: ${l.trim()} ${end - i + 1} lines`);
      });
    }
    expect(big).toEqual([]);
  });
});
