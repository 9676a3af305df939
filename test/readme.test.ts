import fs from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM script without types
import { listTools, renderTools, spliceReadme } from "../scripts/gen-readme.mjs";

const README = new URL("../README.md", import.meta.url);

describe("README", () => {
  it("documents the tools exactly as the server lists them (npm run docs regenerates it)", async () => {
    const readme = fs.readFileSync(README, "utf8");
    expect(spliceReadme(readme, renderTools(await listTools()))).toBe(readme);
  });
  it("gives the two commands, and .ci/run calls the README's test command", () => {
    const readme = fs.readFileSync(README, "utf8");
    expect(readme).toContain("npm ci && npm run demo");
    expect(readme).toContain("npm test");
    expect(fs.readFileSync(new URL("../.ci/run", import.meta.url), "utf8")).toMatch(/^npm test$/m);
  });
});
