import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Missing snapshots fail everywhere (update them on purpose with `npm run snaps`).
    update: "none",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers and child processes; two cores here.
    maxWorkers: 2,
  },
});
