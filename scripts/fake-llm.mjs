// A scripted OpenAI-compatible chat endpoint for end-to-end tests of real MCP clients (opencode).
//
// POST /v1/chat/completions answers (streaming SSE or plain JSON, as asked) with the next step of a
// fixed script: one tool call per request, chosen by counting the tool results already in the
// request's messages, then a plain assistant text that ends the turn. Requests that offer none of the
// script's tools (opencode's title and summary requests) get a short plain text. Each tool call is
// timed from the moment its response was sent to the request that carries its result.
//
//   import { startFakeLlm } from "./fake-llm.mjs";
//   const llm = await startFakeLlm({ steps: [{ tool: "x_start", args: {...} }, ...], finalText: "done" });
//   llm.baseURL  // http://127.0.0.1:<port>/v1
//   llm.calls    // [{ index, tool, args, id, sentAt, resultAt, ms, result }]
//   await llm.close();
//
// Run alone (`node scripts/fake-llm.mjs '<steps json>'`) it prints its base URL and serves until killed.

import http from "node:http";

export async function startFakeLlm({ steps, finalText = "Done.", model = "scripted", log = () => {} }) {
  const calls = steps.map((s, index) => ({ index, tool: s.tool, args: s.args ?? {}, id: `call_${index + 1}`, sentAt: null, resultAt: null, ms: null, result: null }));
  const requests = [];
  let finalSentAt = null;

  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      try {
        handle(req, res, body);
      } catch (e) {
        log(`fake-llm: ${e instanceof Error ? e.stack : String(e)}`);
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: String(e), type: "server_error" } }));
      }
    });
  });

  function handle(req, res, body) {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname.endsWith("/models")) {
      return json(res, 200, { object: "list", data: [{ id: model, object: "model", created: 0, owned_by: "fake" }] });
    }
    if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) return json(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } });
    const r = JSON.parse(body || "{}");
    const messages = Array.isArray(r.messages) ? r.messages : [];
    const offered = new Set((r.tools ?? []).map((t) => t?.function?.name).filter(Boolean));
    const now = Date.now();

    // Results that came back: match them to our calls by tool_call_id.
    for (const m of messages) {
      if (m.role !== "tool") continue;
      const c = calls.find((x) => x.id === m.tool_call_id);
      if (c && c.resultAt === null) {
        c.resultAt = now;
        c.ms = c.sentAt === null ? null : now - c.sentAt;
        c.result = contentText(m.content);
        log(`fake-llm: result of ${c.tool} after ${(c.ms / 1000).toFixed(1)} s: ${oneLine(c.result, 160)}`);
      }
    }

    const scripted = steps.some((s) => offered.has(s.tool));
    const entry = { at: now, stream: !!r.stream, tools: offered.size, messages: messages.length, kind: "" };
    requests.push(entry);
    if (!scripted) {
      // opencode's title generator and the like: no tools from our script are on offer.
      entry.kind = "aux";
      log(`fake-llm: auxiliary request (${offered.size} tools, ${messages.length} messages): plain text`);
      return reply(res, r, { text: "autoresearch e2e" });
    }
    const done = messages.filter((m) => m.role === "tool").length;
    if (done < calls.length) {
      const c = calls[done];
      if (!offered.has(c.tool)) {
        const ours = [...offered].filter((n) => n.startsWith(c.tool.split("_")[0])).sort();
        throw new Error(`tool ${c.tool} is not among the tools offered (${ours.join(", ") || [...offered].join(", ")})`);
      }
      entry.kind = `call ${c.tool}`;
      if (c.sentAt === null) c.sentAt = now;
      log(`fake-llm: step ${done + 1}/${calls.length}: call ${c.tool} ${JSON.stringify(c.args)}`);
      return reply(res, r, { toolCall: { id: c.id, name: c.tool, arguments: JSON.stringify(c.args) } }, () => {
        c.sentAt = Date.now();
      });
    }
    entry.kind = "final";
    finalSentAt ??= now;
    log(`fake-llm: all ${calls.length} tool calls answered: final text`);
    return reply(res, r, { text: finalText });
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

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    port,
    baseURL: `http://127.0.0.1:${port}/v1`,
    model,
    calls,
    requests,
    get finalSentAt() {
      return finalSentAt;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function json(res, status, obj) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(obj));
}

function contentText(content) {
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
