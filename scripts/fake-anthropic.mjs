// A scripted Anthropic Messages endpoint (Claude Code) on 127.0.0.1: the step script of
// scripts/fake-llm.mjs in the Messages wire format.
//
// POST /v1/messages (streaming SSE: message_start, content_block_start, content_block_delta with
// text_delta or input_json_delta, content_block_stop, message_delta, message_stop; or one JSON
// message) answers with the next step; POST /v1/messages/count_tokens answers a token count.
// Tool results are read from the user messages' tool_result blocks (content and is_error, as the
// model would see them). A request is the agent's main loop when it names a tool of the script:
// Claude Code defers MCP tools behind ToolSearch and at first only names them in a system message;
// a step may call a tool only once it is in `tools` (where ToolSearch puts it, schema and all), so
// the script has to call ToolSearch first, as a real model must.
//
//   import { startFakeAnthropic } from "./fake-anthropic.mjs";
//   const llm = await startFakeAnthropic({ steps, finalText, log });
//   llm.baseURL   // http://127.0.0.1:<port> (ANTHROPIC_BASE_URL)
//   llm.calls, llm.requests, llm.finalSentAt, llm.close()

import { createScript, endpoint, json, later, oneLine, sse, startServer } from "./fake-llm.mjs";

const MCP_NAME = /mcp__[A-Za-z0-9_-]+?__[A-Za-z0-9_-]+/g;

export async function startFakeAnthropic({ steps, finalText = "Done.", log = () => {}, dumpDir = null }) {
  const script = createScript({ steps, finalText, log, idPrefix: "toolu_e2e_" });
  const requests = [];
  let seq = 0;

  function handle(req, res, r, url) {
    if (req.method === "POST" && url.pathname.endsWith("/messages/count_tokens")) return json(res, 200, { input_tokens: 1000 });
    if (req.method !== "POST" || !url.pathname.endsWith("/messages")) {
      return json(res, 404, { type: "error", error: { type: "not_found_error", message: `no route ${req.method} ${url.pathname}` } });
    }
    const messages = Array.isArray(r.messages) ? r.messages : [];
    const tools = Array.isArray(r.tools) ? r.tools : [];
    // Callable: in `tools` (a deferred tool is there, with its schema, once ToolSearch loaded it).
    const offered = new Set(tools.map((t) => t?.name).filter(Boolean));
    // Named: also the deferred tools that only a system message lists.
    const named = new Set(offered);
    for (const m of JSON.stringify(r).matchAll(MCP_NAME)) named.add(m[0]);
    const now = Date.now();
    const entry = {
      at: now,
      stream: !!r.stream,
      model: r.model,
      tools: tools.map((t) => `${t.name}${t.defer_loading ? " (deferred)" : ""}`),
      mcpNamed: [...named].filter((n) => n.startsWith("mcp__")).sort(),
      messages: messages.length,
      kind: "",
    };
    requests.push(entry);
    if (!script.isScripted(named)) {
      entry.kind = "aux";
      log(`fake-anthropic: auxiliary request (${tools.length} tools, ${messages.length} messages): plain text`);
      return reply(res, r, { text: "autoresearch e2e" });
    }
    const results = [];
    for (const m of messages) {
      if (m.role !== "user" || !Array.isArray(m.content)) continue;
      for (const b of m.content) {
        if (b?.type !== "tool_result") continue;
        results.push({ id: b.tool_use_id, text: resultText(b.content), isError: !!b.is_error, raw: b.content });
      }
    }
    const next = script.turn(results, offered, now);
    if (next.kind === "final") {
      entry.kind = "final";
      return reply(res, r, { text: next.text });
    }
    const c = next.call;
    entry.kind = `call ${c.tool}`;
    later(c, () =>
      reply(res, r, { toolUse: { id: c.id, name: c.tool, input: c.args } }, () => {
        c.sentAt = Date.now();
      }),
    );
  }

  function reply(res, r, { text, toolUse }, onSent = () => {}) {
    const id = `msg_e2e_${++seq}`;
    const model = r.model ?? "scripted";
    const stop_reason = toolUse ? "tool_use" : "end_turn";
    const block = toolUse ? { type: "tool_use", id: toolUse.id, name: toolUse.name, input: toolUse.input } : { type: "text", text };
    const usage = { input_tokens: 100, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    if (!r.stream) {
      json(res, 200, { id, type: "message", role: "assistant", model, content: [block], stop_reason, stop_sequence: null, usage });
      onSent();
      return;
    }
    const ev = sse(res);
    ev("message_start", { message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
    if (toolUse) {
      ev("content_block_start", { index: 0, content_block: { type: "tool_use", id: toolUse.id, name: toolUse.name, input: {} } });
      ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: JSON.stringify(toolUse.input) } });
    } else {
      ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
      ev("content_block_delta", { index: 0, delta: { type: "text_delta", text } });
    }
    ev("content_block_stop", { index: 0 });
    ev("message_delta", { delta: { stop_reason, stop_sequence: null }, usage: { output_tokens: 10 } });
    ev("message_stop", {});
    res.end(onSent);
  }

  const server = await startServer(handle, log, dumpDir);
  return endpoint(server, script, requests, { baseURL: `http://127.0.0.1:${server.port}` });
}

/** A tool_result's content as the model reads it: text blocks joined, other blocks as JSON. */
function resultText(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return content === undefined ? "" : JSON.stringify(content);
  return content.map((b) => (b?.type === "text" ? b.text : JSON.stringify(b))).join("\n");
}

export { oneLine };
