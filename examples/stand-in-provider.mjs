// A stand-in for the OpenAI Chat Completions API, so the compose demo makes "LLM calls" without a key or network.
// It answers POST /v1/chat/completions in OpenAI's JSON shape (and as SSE when `stream: true`), with a usage
// block whose token counts grow with the prompt. Model `refuse-429`, or header `X-Stand-In-Status: 429`, gets a 429
// rate-limit error as OpenAI sends it.
// Run: HOST=127.0.0.1 PORT=8080 node examples/stand-in-provider.mjs   (PORT=0 picks a free port)
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const MAX_BODY_BYTES = 1024 * 1024;

/** Token counts that depend only on the request: the demo's panels show differences between calls. */
export function usageFor(body) {
  const promptChars = (body.messages ?? []).reduce((sum, message) => sum + String(message.content ?? '').length, 0);
  const promptTokens = 200 + Math.ceil(promptChars / 4) * 10;
  const completionTokens = Math.min(Number(body.max_tokens) || 400, 50 + (promptTokens % 450));
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

function send(res, status, payload) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(payload));
}

function completion(body, usage) {
  return {
    id: `chatcmpl-standin-${Date.now().toString(36)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'A stand-in answer.' }, finish_reason: 'stop' }],
    usage,
  };
}

function stream(res, body, usage) {
  const base = { id: `chatcmpl-standin-${Date.now().toString(36)}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model };
  const chunk = (payload) => res.write(`data: ${JSON.stringify({ ...base, ...payload })}\n\n`);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'A stand-in' }, finish_reason: null }] });
  setTimeout(() => {
    chunk({ choices: [{ index: 0, delta: { content: ' answer.' }, finish_reason: 'stop' }] });
    if (body.stream_options?.include_usage) chunk({ choices: [], usage });
    res.end('data: [DONE]\n\n');
  }, 50);
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export function createStandInProvider() {
  return createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/chat/completions') {
      return send(res, 404, { error: { message: `stand-in answers POST /v1/chat/completions only, not ${req.method} ${req.url}`, type: 'invalid_request_error' } });
    }
    let body;
    try {
      body = await readJson(req);
    } catch (error) {
      return send(res, 400, { error: { message: `bad request body: ${error.message}`, type: 'invalid_request_error' } });
    }
    if (typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      return send(res, 400, { error: { message: 'model (string) and messages (array) are required', type: 'invalid_request_error' } });
    }
    if (body.model === 'refuse-429' || req.headers['x-stand-in-status'] === '429') {
      return send(res, 429, { error: { message: 'Rate limit reached (stand-in)', type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
    }
    const usage = usageFor(body);
    // A little latency, so duration panels have something to show.
    await new Promise((resolve) => setTimeout(resolve, 20 + (usage.prompt_tokens % 180)));
    if (body.stream) return stream(res, body, usage);
    return send(res, 200, completion(body, usage));
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8080);
  const server = createStandInProvider();
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`stand-in provider listening on http://${address.address}:${address.port}/v1`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => server.close(() => process.exit(0)));
}
