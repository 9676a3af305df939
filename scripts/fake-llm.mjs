// Scripted model endpoints for end-to-end tests of real MCP clients.
//
// This file holds what every wire format shares, and the OpenAI chat-completions endpoint
// (opencode); scripts/fake-anthropic.mjs (Claude Code: the Messages API) and
// scripts/fake-responses.mjs (Codex: the Responses API) add the other wire formats.
//
// The script: one tool call per request, then a plain assistant text that ends the turn. Which
// step comes next is decided by counting the results of our calls that the request carries (every
// request holds the whole conversation). A step may ask to be repeated: `again(call)` sees the
// call with its result and returns new arguments for one more call of the same tool (e.g. while
// run_training answers "running"), or null to go on. A step may add steps: once its last call is
// answered (`again` said no more), `then(call)` returns the steps to take next, before the rest of
// the script (e.g. run and log the same commit again when log_result says a repeat is due); each
// added step may have its own `again` and `then`. Requests that offer none of the script's tools
// (a client's title and summary requests) get a short plain text. `skip(offered)` drops a step
// that the request shows is not needed; `delayMs` holds a repeated call back that long (the adapters
// wait before they answer). Each tool call is timed from the moment its response was sent to the
// request that carries its result.
//
//   import { startFakeLlm } from "./fake-llm.mjs";
//   const llm = await startFakeLlm({ steps: [{ tool: "x_start", args: {...} }, ...], finalText: "done" });
//   llm.baseURL  // http://127.0.0.1:<port>/v1
//   llm.calls    // [{ index, tool, args, id, sentAt, resultAt, ms, result, isError, raw, chain, repeat }]
//   await llm.close();
//
// Run alone (`node scripts/fake-llm.mjs '<steps json>'`) it prints its base URL and serves until killed.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";

/**
 * The step script, independent of any wire format. `turn()` takes the results found in a request
 * and the tool names it offers, and says what the model does next.
 */
export function createScript({ steps, finalText = "Done.", log = () => {}, idPrefix = "call_" }) {
  const calls = steps.map((step, index) => newCall(step, index, index));
  let seq = 0;
  let chains = steps.length;
  let finalSentAt = null;

  // chain: the plan step a call belongs to; repeat: 0 for its first call, 1, 2, ... for the calls again.
  function newCall(step, index, chain, args = step.args ?? {}, repeat = 0) {
    return { index, tool: step.tool, args, id: null, step, chain, repeat, delayMs: 0, sentAt: null, resultAt: null, ms: null, result: null, isError: null, raw: null, decided: false };
  }

  /** A request offers the script's tools: it is the agent's main loop, not a title request. */
  function isScripted(offered) {
    return steps.some((s) => offered.has(s.tool));
  }

  /**
   * results: [{ id, text, isError, raw }] found in the request; offered: Set of tool names.
   * Returns { kind: "call", call } or { kind: "final", text }.
   */
  function turn(results, offered, now = Date.now()) {
    for (const r of results) {
      const c = calls.find((x) => x.id !== null && x.id === r.id);
      if (!c || c.resultAt !== null) continue;
      c.resultAt = now;
      c.ms = c.sentAt === null ? null : now - c.sentAt;
      c.result = r.text;
      c.isError = r.isError ?? null;
      c.raw = r.raw ?? null;
      log(`fake-llm: result of ${c.tool} after ${(c.ms / 1000).toFixed(1)} s${c.isError ? " (error)" : ""}: ${oneLine(c.result, 160)}`);
    }
    const ids = new Set(results.map((r) => r.id));
    let done = 0;
    while (done < calls.length && calls[done].id !== null && ids.has(calls[done].id)) done++;
    // A step that wants another call of its tool, or steps of its own after it, decided once per call.
    const prev = calls[done - 1];
    if (prev && !prev.decided) {
      prev.decided = true;
      const more = prev.step.again?.(prev) ?? null;
      if (more) {
        const c = newCall(prev.step, done, prev.chain, more, prev.repeat + 1);
        c.delayMs = prev.step.delayMs ?? 0;
        calls.splice(done, 0, c);
        calls.forEach((c, i) => (c.index = i));
        log(`fake-llm: ${prev.tool} again with ${JSON.stringify(more)}`);
      } else {
        const added = prev.step.then?.(prev) ?? [];
        if (added.length) {
          calls.splice(done, 0, ...added.map((step, k) => newCall(step, done + k, chains++)));
          calls.forEach((c, i) => (c.index = i));
          log(`fake-llm: after ${prev.tool}: ${added.map((s) => s.tool).join(", ")}`);
        }
      }
    }
    // A step that is not needed in this request (e.g. ToolSearch where nothing is deferred).
    while (done < calls.length && calls[done].id === null && calls[done].step.skip?.(offered)) {
      log(`fake-llm: step ${calls[done].tool} skipped`);
      calls.splice(done, 1);
      calls.forEach((c, i) => (c.index = i));
    }
    if (done < calls.length) {
      const c = calls[done];
      if (!offered.has(c.tool)) {
        const prefix = c.tool.replace(/[^_]+$/, "");
        const ours = [...offered].filter((n) => prefix && n.startsWith(prefix)).sort();
        throw new Error(`tool ${c.tool} is not among the tools offered (${ours.join(", ") || [...offered].join(", ")})`);
      }
      if (c.id === null) c.id = `${idPrefix}${++seq}`;
      if (c.sentAt === null) c.sentAt = now;
      log(`fake-llm: step ${done + 1}/${calls.length}: call ${c.tool} ${JSON.stringify(c.args)}`);
      return { kind: "call", call: c };
    }
    finalSentAt ??= now;
    log(`fake-llm: all ${calls.length} tool calls answered: final text`);
    return { kind: "final", text: finalText };
  }

  return {
    calls,
    turn,
    isScripted,
    get finalSentAt() {
      return finalSentAt;
    },
  };
}

/**
 * A local HTTP server on 127.0.0.1 (an ephemeral port) that hands each request with its parsed JSON
 * body to `handle(req, res, body, url)`; a throw becomes a 500 with the message. With `dumpDir`,
 * every request is written there (request-001.json, ...) for debugging.
 */
export async function startServer(handle, log = () => {}, dumpDir = null) {
  let n = 0;
  if (dumpDir) fs.mkdirSync(dumpDir, { recursive: true });
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      try {
        const url = new URL(req.url ?? "/", "http://x");
        let parsed = {};
        if (body) {
          try {
            parsed = JSON.parse(body);
          } catch {
            parsed = { _raw: body };
          }
        }
        if (dumpDir) {
          const file = path.join(dumpDir, `request-${String(++n).padStart(3, "0")}.json`);
          fs.writeFileSync(file, JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: parsed }, null, 1));
        }
        handle(req, res, parsed, url);
      } catch (e) {
        log(`fake-llm: ${e instanceof Error ? e.stack : String(e)}`);
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ type: "error", error: { message: String(e), type: "server_error" } }));
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** The common face of every fake endpoint. */
export function endpoint(server, script, requests, extra) {
  return {
    port: server.port,
    calls: script.calls,
    requests,
    get finalSentAt() {
      return script.finalSentAt;
    },
    close: server.close,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions (opencode)

export async function startFakeLlm({ steps, finalText = "Done.", model = "scripted", log = () => {}, dumpDir = null }) {
  const script = createScript({ steps, finalText, log });
  const requests = [];

  function handle(req, res, r, url) {
    if (req.method === "GET" && url.pathname.endsWith("/models")) {
      return json(res, 200, { object: "list", data: [{ id: model, object: "model", created: 0, owned_by: "fake" }] });
    }
    if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) return json(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } });
    const messages = Array.isArray(r.messages) ? r.messages : [];
    const offered = new Set((r.tools ?? []).map((t) => t?.function?.name).filter(Boolean));
    const now = Date.now();
    const entry = { at: now, stream: !!r.stream, tools: offered.size, messages: messages.length, kind: "" };
    requests.push(entry);
    if (!script.isScripted(offered)) {
      // opencode's title generator and the like: no tools from our script are on offer.
      entry.kind = "aux";
      log(`fake-llm: auxiliary request (${offered.size} tools, ${messages.length} messages): plain text`);
      return reply(res, r, { text: "autoresearch e2e" });
    }
    const results = messages.filter((m) => m.role === "tool").map((m) => ({ id: m.tool_call_id, text: contentText(m.content), raw: m.content }));
    const next = script.turn(results, offered, now);
    if (next.kind === "final") {
      entry.kind = "final";
      return reply(res, r, { text: next.text });
    }
    const c = next.call;
    entry.kind = `call ${c.tool}`;
    later(c, () =>
      reply(res, r, { toolCall: { id: c.id, name: c.tool, arguments: JSON.stringify(c.args) } }, () => {
        c.sentAt = Date.now();
      }),
    );
  }

  function reply(res, r, { text, toolCall }, onSent = () => {}) {
    const id = `chatcmpl-${Math.random().toString(36).slice(2, 10)}`;
    const created = Math.floor(Date.now() / 1000);
    const finish = toolCall ? "tool_calls" : "stop";
    const usage = { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 };
    if (!r.stream) {
      const message = toolCall
        ? { role: "assistant", content: null, tool_calls: [{ id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: toolCall.arguments } }] }
        : { role: "assistant", content: text };
      json(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message, finish_reason: finish }], usage });
      onSent();
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const chunk = (delta, finish_reason = null, extra = {}) =>
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason }], ...extra })}\n\n`);
    if (toolCall) {
      chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: "" } }] });
      chunk({ tool_calls: [{ index: 0, function: { arguments: toolCall.arguments } }] });
    } else {
      chunk({ role: "assistant", content: "" });
      chunk({ content: text });
    }
    chunk({}, finish);
    if (r.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage })}\n\n`);
    res.write("data: [DONE]\n\n");
    res.end(onSent);
  }

  const server = await startServer(handle, log, dumpDir);
  return endpoint(server, script, requests, { baseURL: `http://127.0.0.1:${server.port}/v1`, model });
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Runs `send` now, or after the call's delay when it is a held-back repeat. */
export function later(call, send) {
  if (call.delayMs > 0 && !call.held) {
    call.held = true;
    setTimeout(send, call.delayMs);
  } else send();
}

export function json(res, status, obj) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(obj));
}

/** Server-sent events: `event: <type>` and the data line (the type goes into the data too). */
export function sse(res) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  return (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

export function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : (p?.text ?? JSON.stringify(p)))).join("");
  return JSON.stringify(content);
}

export function oneLine(s, max = 200) {
  const t = String(s ?? "").replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const steps = JSON.parse(process.argv[2] ?? "[]");
  const llm = await startFakeLlm({ steps, log: (l) => process.stderr.write(l + "\n") });
  process.stdout.write(`${llm.baseURL}\n`);
}
