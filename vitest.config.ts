import { defineConfig } from "vitest/config";
import { TEST_MS } from "./test/helpers/timeouts.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Missing snapshots fail everywhere (update them on purpose with `npm run snaps`).
    update: "none",
    // A backstop above every wait and call a test makes (test/helpers/timeouts.ts): no outcome may
    // depend on machine speed, so a test that hits this is stuck, not slow. Tests that give a
    // child longer set their own timeout from it.
    testTimeout: TEST_MS,
    hookTimeout: TEST_MS,
    // Tests start real servers and child processes; two cores here.
    maxWorkers: 2,
  },
});
