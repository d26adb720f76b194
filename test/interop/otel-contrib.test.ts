import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appsInstalled, eventually, GPT_4O_MINI, near, startRig, total, type Rig } from './harness.ts';

const MODEL = 'gpt-4o-mini-2024-07-18';

describe('OpenTelemetry contrib instrumentation-openai 0.21 (OTel JS 2.x, openai 6)', { skip: !appsInstalled('otel2-openai6') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  before(async () => { rig = await startRig(); });
  after(() => rig?.stop());

  it('counts each call once per user, at the catalogue price, without usage where the library has none', async () => {
    await rig.run('otel2-openai6', 'otel-contrib.cjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'otel-parent' }), 1);
    });
    const a = { user_id: 'otel-a', provider: 'openai', model: MODEL };
    assert.equal(total(metrics, 'llm_requests_total', a), 2);
    // The library reports no cache tokens: the cached call's 200 cached tokens are billed as plain input.
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 2000);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 0);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 1000);
    near(total(metrics, 'llm_cost_usd_total', a), 2 * (1000 * GPT_4O_MINI.input + 500 * GPT_4O_MINI.output), 'otel-a cost');

    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'otel-b', status: 'ok' }), 1, 'the stream without usage');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'otel-b', status: 'error' }), 1, 'the 429');
    assert.equal(total(metrics, 'llm_tokens_total', { user_id: 'otel-b' }), 0);
    assert.equal(total(metrics, 'llm_requests_without_usage_total', { source: 'otel-contrib' }), 2);
    assert.equal(total(metrics, 'llm_requests_total', { user_id: '__no_user__' }), 0, 'the parent span named the user');
    assert.equal(total(metrics, 'llm_requests_total', {}), 5, 'five calls, each once');
  });
});

describe('OpenTelemetry contrib instrumentation-openai 0.22 (OTel JS 3.x, openai 6)', { skip: !appsInstalled('otel3') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  before(async () => { rig = await startRig(); });
  after(() => rig?.stop());

  it('counts chat and Responses calls once per user on the 3.x SDK, without usage where the library has none', async () => {
    await rig.run('otel3', 'otel-contrib.cjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'otel3-parent' }), 1);
    });
    const a = { user_id: 'otel3-a', provider: 'openai', model: MODEL };
    assert.equal(total(metrics, 'llm_requests_total', a), 2);
    // As 0.21: no cache tokens reported, so the cached call's prompt is all plain input.
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 2000);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 0);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 1000);
    near(total(metrics, 'llm_cost_usd_total', a), 2 * (1000 * GPT_4O_MINI.input + 500 * GPT_4O_MINI.output), 'otel3-a cost');

    // The Responses call names its provider in gen_ai.provider.name, the chat calls in gen_ai.system.
    const r = { user_id: 'otel3-r', provider: 'openai', model: MODEL };
    assert.equal(total(metrics, 'llm_requests_total', r), 1);
    near(total(metrics, 'llm_cost_usd_total', r), 1000 * GPT_4O_MINI.input + 500 * GPT_4O_MINI.output, 'otel3-r cost');

    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'otel3-b', status: 'ok' }), 1, 'the stream without usage');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'otel3-b', status: 'error' }), 1, 'the 429');
    assert.equal(total(metrics, 'llm_tokens_total', { user_id: 'otel3-b' }), 0);
    assert.equal(total(metrics, 'llm_requests_without_usage_total', { source: 'otel-contrib' }), 2);
    near(total(metrics, 'llm_cost_usd_total', { user_id: 'otel3-parent' }), 1000 * GPT_4O_MINI.input + 500 * GPT_4O_MINI.output, 'otel3-parent cost');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: '__no_user__' }), 0, 'the parent span named the user');
    assert.equal(total(metrics, 'llm_requests_total', {}), 6, 'six calls, each once');
  });
});
