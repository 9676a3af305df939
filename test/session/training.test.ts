import { describe, expect, it } from "vitest";
import { CODEX_WAIT_S, MAX_WAIT_WITHOUT_PROGRESS_S, waitCap } from "../../src/session/training.js";
import type { Workspace } from "../../src/workspace.js";

// No single call may wait past the shortest client limit (SPEC §7): Codex ends a call at 300 s
// whatever progress says; clients that reset their limit on progress may wait the whole run.
const ws = (maxWaitSeconds?: number) => ({ config: { maxWaitSeconds } }) as unknown as Workspace;

describe("waitCap", () => {
  it.each<{ name: string; max?: number; client?: string; progress: boolean; want: number }>([
    { name: "Codex, with progress", client: "codex-mcp-client", progress: true, want: CODEX_WAIT_S },
    { name: "Codex, any spelling", client: "Codex", progress: false, want: CODEX_WAIT_S },
    { name: "Claude Code with progress: the whole run", client: "claude-code", progress: true, want: Infinity },
    { name: "opencode with progress: the whole run", client: "opencode", progress: true, want: Infinity },
    { name: "a client without progress", client: "inspector", progress: false, want: MAX_WAIT_WITHOUT_PROGRESS_S },
    { name: "maxWaitSeconds wins over the client", max: 100, client: "codex-mcp-client", progress: true, want: 100 },
    { name: "maxWaitSeconds for a progress client", max: 600, client: "opencode", progress: true, want: 600 },
  ])("$name → $want", ({ max, client, progress, want }) => {
    expect(waitCap(ws(max), { client, canProgress: progress })).toBe(want);
  });
  it("Codex's cap is below its 300 s default", () => {
    expect(CODEX_WAIT_S).toBeLessThan(300);
  });
});
