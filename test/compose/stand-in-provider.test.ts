/** The demo's stand-in provider, driven by the real openai client as the demo app drives it. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const SCRIPT = fileURLToPath(new URL('../../examples/stand-in-provider.mjs', import.meta.url));

describe('examples/stand-in-provider.mjs', () => {
  let child: ChildProcess;
  let client: OpenAI;
  let baseURL: string;

  before(async () => {
    child = spawn(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    baseURL = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`stand-in did not start: ${out}`)), 10_000);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const found = /listening on (http:\/\/\S+)/.exec(out);
        if (found) { clearTimeout(timer); resolve(found[1]!); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`stand-in exited with ${code}`)); });
    });
    client = new OpenAI({ baseURL, apiKey: 'stand-in', maxRetries: 0 });
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('answers a chat completion with usage that grows with the prompt', async () => {
    const short = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const long = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi '.repeat(400) }] });
    assert.equal(short.model, 'gpt-4o-mini');
    assert.equal(short.choices[0]!.message.content, 'A stand-in answer.');
    assert.ok(short.usage && long.usage);
    assert.ok(long.usage.prompt_tokens > short.usage.prompt_tokens, 'a longer prompt has more tokens');
    assert.equal(short.usage.total_tokens, short.usage.prompt_tokens + short.usage.completion_tokens);
  });

  it('streams, ending with a usage chunk when asked for one', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }], stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'A stand-in answer.');
    assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0);
  });

  it('refuses model refuse-429, or any model when asked by header, with the rate-limit error the SDK knows', async () => {
    const isRateLimit = (error: unknown) => error instanceof OpenAI.RateLimitError && error.status === 429;
    await assert.rejects(client.chat.completions.create({ model: 'refuse-429', messages: [{ role: 'user', content: 'x' }] }), isRateLimit);
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'X-Stand-In-Status': '429' } }), isRateLimit);
  });

  it('names what it answers when asked for something else', async () => {
    const response = await fetch(`${baseURL}/embeddings`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 404);
    assert.match(JSON.stringify(await response.json()), /POST \/v1\/chat\/completions/);
    const bad = await fetch(`${baseURL}/chat/completions`, { method: 'POST', body: '{not json' });
    assert.equal(bad.status, 400);
  });
});
