// A scripted OpenAI Responses endpoint (Codex) on 127.0.0.1: the step script of
// scripts/fake-llm.mjs in the Responses wire format.
//
// POST /v1/responses (streaming SSE: response.created, response.output_item.added,
// response.output_text.delta or response.function_call_arguments.delta, response.output_item.done,
// response.completed) answers with the next step. Tool results are read from the input's
// function_call_output items, as the model sees them (Codex 0.171: a success is one string,
// "Wall time: ...\nOutput:\n<structuredContent JSON>"; an isError result a list of input_text
// parts, the "Output:" header and then the text). Codex offers an MCP server's tools as one
// `namespace` tool (name mcp__<server>, its functions inside); the script names them
// mcp__<server>__<tool>, and the call goes out as a function_call with that namespace.
//
//   import { startFakeResponses } from "./fake-responses.mjs";
//   const llm = await startFakeResponses({ steps, finalText, log });
//   llm.baseURL   // http://127.0.0.1:<port>/v1
//   llm.calls, llm.requests, llm.finalSentAt, llm.close()

import { createScript, endpoint, json, later, oneLine, sse, startServer } from "./fake-llm.mjs";

export async function startFakeResponses({ steps, finalText = "Done.", model = "scripted", log = () => {}, dumpDir = null }) {
  const script = createScript({ steps, finalText, log });
  const requests = [];
  let seq = 0;

  function handle(req, res, r, url) {
    if (req.method === "GET" && url.pathname.endsWith("/models")) {
      return json(res, 200, { object: "list", data: [{ id: model, object: "model", created: 0, owned_by: "fake" }] });
    }
    if (req.method !== "POST" || !url.pathname.endsWith("/responses")) return json(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } });
    const input = Array.isArray(r.input) ? r.input : [];
    // Tool name as the script spells it -> how the function_call names it.
    const wire = new Map();
    for (const t of Array.isArray(r.tools) ? r.tools : []) {
      if (t?.type === "namespace" && Array.isArray(t.tools)) {
        for (const f of t.tools) if (f?.name) wire.set(`${t.name}__${f.name}`, { namespace: t.name, name: f.name });
      } else if (t?.name) wire.set(t.name, { name: t.name });
    }
    const offered = new Set(wire.keys());
    const now = Date.now();
    const entry = { at: now, stream: r.stream !== false, model: r.model, tools: [...offered].sort(), items: input.length, kind: "" };
    requests.push(entry);
    if (!script.isScripted(offered)) {
      entry.kind = "aux";
      log(`fake-responses: auxiliary request (${offered.size} tools, ${input.length} items): plain text`);
      return reply(res, r, { text: "autoresearch e2e" });
    }
    const results = input
      .filter((i) => i?.type === "function_call_output" || i?.type === "custom_tool_call_output")
      .map((i) => ({ id: i.call_id, text: outputText(i.output), raw: i.output }));
    const next = script.turn(results, offered, now);
    if (next.kind === "final") {
      entry.kind = "final";
      return reply(res, r, { text: next.text });
    }
    const c = next.call;
    entry.kind = `call ${c.tool}`;
    later(c, () =>
      reply(res, r, { call: { call_id: c.id, ...wire.get(c.tool), arguments: JSON.stringify(c.args) } }, () => {
        c.sentAt = Date.now();
      }),
    );
  }

  function reply(res, r, { text, call }, onSent = () => {}) {
    const n = ++seq;
    const response = { id: `resp_e2e_${n}`, object: "response", created_at: Math.floor(Date.now() / 1000), status: "in_progress", model: r.model ?? model, output: [] };
    const item = call
      ? { type: "function_call", id: `fc_e2e_${n}`, status: "completed", ...call }
      : { type: "message", id: `msg_e2e_${n}`, role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] };
    const usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110 };
    const done = { ...response, status: "completed", output: [item], usage };
    if (r.stream === false) {
      json(res, 200, done);
      onSent();
      return;
    }
    const ev = sse(res);
    let s = 0;
    const e = (type, data) => ev(type, { sequence_number: s++, ...data });
    e("response.created", { response });
    e("response.in_progress", { response });
    if (call) {
      e("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", arguments: "" } });
      e("response.function_call_arguments.delta", { item_id: item.id, output_index: 0, delta: item.arguments });
      e("response.function_call_arguments.done", { item_id: item.id, output_index: 0, arguments: item.arguments });
    } else {
      e("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } });
      e("response.content_part.added", { item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
      e("response.output_text.delta", { item_id: item.id, output_index: 0, content_index: 0, delta: text });
      e("response.output_text.done", { item_id: item.id, output_index: 0, content_index: 0, text });
      e("response.content_part.done", { item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] });
    }
    e("response.output_item.done", { output_index: 0, item });
    e("response.completed", { response: done });
    res.end(onSent);
  }

  const server = await startServer(handle, log, dumpDir);
  return endpoint(server, script, requests, { baseURL: `http://127.0.0.1:${server.port}/v1`, model });
}

/** A function_call_output as the model reads it: a string, or input_text parts (one per line). */
function outputText(output) {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) return output.map((p) => (typeof p === "string" ? p : (p?.text ?? JSON.stringify(p)))).join("\n");
  return JSON.stringify(output);
}

export { oneLine };
