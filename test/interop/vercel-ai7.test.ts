import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appsInstalled, eventually, GPT_4O_MINI, near, startRig, total, type Rig } from './harness.ts';

const MODEL = 'gpt-4o-mini-2024-07-18';

describe('Vercel AI SDK 7 with @ai-sdk/otel (OTel JS 3.x)', { skip: !appsInstalled('otel3') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  before(async () => { rig = await startRig({ PROPERTY_LABELS: 'plan' }); });
  after(() => rig?.stop());

  it('counts the chat span once, under the user of its later invoke_agent ancestor, not the agent span too', async () => {
    await rig.run('otel3', 'vercel-ai7.mjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'v7-b' }), 2);
    });
    const a = { user_id: 'v7-a', provider: 'openai', model: MODEL, plan: 'pro' };
    assert.equal(total(metrics, 'llm_requests_total', a), 2, 'two calls, not four: invoke_agent carries the same usage');
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 1000 + 800);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 200);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 1000);
    near(total(metrics, 'llm_cost_usd_total', a),
      1800 * GPT_4O_MINI.input + 200 * GPT_4O_MINI.cacheRead + 1000 * GPT_4O_MINI.output, 'v7-a cost');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'v7-b', status: 'ok' }), 1, 'the stream (with usage)');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'v7-b', status: 'error' }), 1, 'the 429');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: '__no_user__' }), 0);
    assert.equal(total(metrics, 'llm_requests_total', {}), 4);
  });
});
