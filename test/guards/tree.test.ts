import { describe, expect, it } from "vitest";
import { isDependencyManifest } from "../../src/guards/tree.js";

describe("isDependencyManifest", () => {
  it.each([
    ["pyproject.toml", true],
    ["uv.lock", true],
    ["requirements.txt", true],
    ["requirements-dev.txt", true],
    ["sub/requirements.txt", true],
    ["setup.py", true],
    ["environment.yml", true],
    ["train.py", false],
    ["requirements.md", false],
  ])("%s → %s", (p, want) => {
    expect(isDependencyManifest(p)).toBe(want);
  });
});
