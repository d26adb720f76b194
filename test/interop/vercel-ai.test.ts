import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appsInstalled, eventually, GPT_4O_MINI, near, startRig, total, type Rig } from './harness.ts';

const MODEL = 'gpt-4o-mini-2024-07-18';

describe('Vercel AI SDK 6 telemetry, alone and rewritten by OpenLLMetry 0.27', { skip: !appsInstalled('otel2-openai6') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  before(async () => { rig = await startRig({ PROPERTY_LABELS: 'plan' }); });
  after(() => rig?.stop());

  it('counts the doGenerate / doStream child once, never the parent that carries the same usage', async () => {
    await rig.run('otel2-openai6', 'vercel-ai.mjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'v6-b' }), 2);
    });
    const a = { user_id: 'v6-a', provider: 'openai', model: MODEL, plan: 'pro' };
    assert.equal(total(metrics, 'llm_requests_total', a), 2);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 1800);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 200);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 1000);
    near(total(metrics, 'llm_cost_usd_total', a), 1800 * GPT_4O_MINI.input + 200 * GPT_4O_MINI.cacheRead + 1000 * GPT_4O_MINI.output, 'v6-a cost');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'v6-b', status: 'error' }), 1);
    assert.equal(total(metrics, 'llm_requests_total', {}), 4, 'four calls, not eight');
  });

  it('counts a call once when OpenLLMetry rewrites the AI SDK spans, and reads its association properties', async () => {
    await rig.run('otel2-openai6', 'openllmetry-vercel-ai.mjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'tl-openai' }), 1);
      assert.equal(total(text, 'llm_requests_total', { user_id: 'tl-ai' }), 1);
    });
    assert.equal(total(metrics, 'llm_tokens_total', { user_id: 'tl-ai', type: 'input' }), 1000);
    assert.equal(total(metrics, 'llm_tokens_total', { user_id: 'tl-openai', type: 'output' }), 500);
  });
});
