/**
 * The suite's time limits, in one place. No test outcome may depend on how fast the machine is:
 * a test waits for an event (a pid printed, a process gone, a run finished), never for a time,
 * and asserts no duration (speed is measured by the bench, never by tests). The limits below are
 * deadlines for things that take well under a second on an idle machine; they are generous so a
 * heavily shared one (load 15 on 2 cores) stays far inside them, and each fails with a message
 * that says what did not happen. They nest, so the inner one always fails first:
 *
 *   WAIT_MS (an event) < CALL_MS (a tool call) < TEST_MS (a test, a hook)
 *
 * and a test that gives a child process more than TEST_MS sets its own timeout from that child's
 * (`childTimeout + MARGIN_MS`).
 */

/** How long `until`/`waitUntil` wait for something that should happen soon (a process to start or go). */
export const WAIT_MS = 60_000;

/**
 * SDK request timeout of a tool call. Above the server's own longest wait in one call without
 * progress (run_training / parse_metrics wait at most 50 s, MAX_WAIT_WITHOUT_PROGRESS_S) plus
 * room for the server's work around it.
 */
export const CALL_MS = 120_000;

/**
 * killAfterSeconds of a run that is meant to end by itself (exit, crash, cancel, a released hold):
 * only a hang reaches it. A hard limit of a few seconds would kill a slow start instead.
 */
export const RUN_LIMIT_S = 600;

/** vitest's testTimeout and hookTimeout: above any single wait or call, with room for several. */
export const TEST_MS = 300_000;

/** What a test adds on top of the longest child it starts. */
export const MARGIN_MS = 60_000;
