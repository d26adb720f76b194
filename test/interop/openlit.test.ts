import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ANTHROPIC_USAGE, OPENAI_USAGE } from '../fixtures/provider-stand-in.ts';
import { appsInstalled, eventually, GPT_4O_MINI, near, startRig, total, type Rig } from './harness.ts';

const MODEL = 'gpt-4o-mini-2024-07-18';
const CLAUDE = 'claude-sonnet-4-20250514';
/** Claude Sonnet 4 list prices per token: input 3, output 15, cache read 0.30, cache write (5 min) 3.75 USD per million. */
const SONNET_4 = { input: 3e-6, output: 15e-6, cacheRead: 0.3e-6, cacheWrite: 3.75e-6 };

/** The value of a metric without labels. */
function unlabelled(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} missing from /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('OpenLIT 1.15 (openai 7, Anthropic SDK 1.14; OTLP JSON)', { skip: !appsInstalled('otel2-openai7') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  let metrics: string;
  before(async () => {
    rig = await startRig();
    await rig.run('otel2-openai7', 'openlit.cjs');
    // The call under the app span is the last to be decided (it waits for its parent span).
    metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'lit-parent' }), 1);
    });
  });
  after(() => rig?.stop());

  it('splits the cached prompt tokens out of OpenAI input_tokens, and keeps reasoning inside output', () => {
    const a = { user_id: 'lit-a', provider: 'openai', model: MODEL };
    assert.equal(total(metrics, 'llm_requests_total', a), 2);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 2 * OPENAI_USAGE.input - 200);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 200);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 2 * OPENAI_USAGE.output);
    near(total(metrics, 'llm_cost_usd_total', a),
      1800 * GPT_4O_MINI.input + 200 * GPT_4O_MINI.cacheRead + 1000 * GPT_4O_MINI.output, 'lit-a cost');

    // Responses API: OpenLIT also writes gen_ai.usage.reasoning_tokens (100), which is part of output_tokens (500).
    const r = { user_id: 'lit-r', provider: 'openai', model: MODEL };
    assert.equal(total(metrics, 'llm_requests_total', r), 1);
    assert.equal(total(metrics, 'llm_tokens_total', { ...r, type: 'input' }), 800);
    assert.equal(total(metrics, 'llm_tokens_total', { ...r, type: 'output' }), OPENAI_USAGE.output, 'reasoning not added twice');
    near(total(metrics, 'llm_cost_usd_total', r), 800 * GPT_4O_MINI.input + 200 * GPT_4O_MINI.cacheRead + 500 * GPT_4O_MINI.output, 'lit-r cost');
  });

  it("adds Anthropic cache tokens to OpenLIT's uncached input_tokens, and counts the SDK's own span beneath it once", () => {
    const c = { user_id: 'lit-claude', provider: 'anthropic', model: CLAUDE };
    assert.equal(total(metrics, 'llm_requests_total', c), 1);
    assert.equal(total(metrics, 'llm_tokens_total', { ...c, type: 'input' }), ANTHROPIC_USAGE.input, 'OpenLIT input_tokens is uncached already');
    assert.equal(total(metrics, 'llm_tokens_total', { ...c, type: 'cache_read' }), 300);
    assert.equal(total(metrics, 'llm_tokens_total', { ...c, type: 'cache_write' }), 100, 'cache_creation.input_tokens');
    assert.equal(total(metrics, 'llm_tokens_total', { ...c, type: 'output' }), ANTHROPIC_USAGE.output);
    near(total(metrics, 'llm_cost_usd_total', c),
      2000 * SONNET_4.input + 300 * SONNET_4.cacheRead + 100 * SONNET_4.cacheWrite + 1000 * SONNET_4.output, 'lit-claude cost');
    assert.equal(total(metrics, 'llm_requests_total', { provider: 'anthropic' }), 1, "the Anthropic SDK's child span is the same call");
    // Ignored: the SDK's duplicate span and the app's 'handle request' span.
    assert.equal(unlabelled(metrics, 'llm_user_metrics_spans_ignored_total'), 2);
  });

  it('counts a stream by its estimate, a failed call (which loses user.id) under no user, and a user on a later parent span', () => {
    const b = { user_id: 'lit-b', provider: 'openai', model: MODEL };
    assert.equal(total(metrics, 'llm_requests_total', { ...b, status: 'ok' }), 1, 'the stream');
    // Without include_usage OpenLIT writes tiktoken estimates of its own, not the provider's usage.
    const streamed = total(metrics, 'llm_tokens_total', b);
    assert.ok(streamed > 0 && streamed < OPENAI_USAGE.input, `stream tokens are an estimate, got ${streamed}`);
    assert.equal(total(metrics, 'llm_requests_total', { user_id: '__no_user__', status: 'error', model: 'refuse-429' }), 1, 'the 429');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'lit-b', status: 'error' }), 0, 'OpenLIT drops user.id on failures');
    near(total(metrics, 'llm_cost_usd_total', { user_id: 'lit-parent' }), 1000 * GPT_4O_MINI.input + 500 * GPT_4O_MINI.output, 'lit-parent cost');
    assert.equal(total(metrics, 'llm_requests_total', {}), 7, 'seven calls, each once');
  });
});
