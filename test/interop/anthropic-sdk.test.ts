import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appsInstalled, eventually, near, startRig, total, type Rig } from './harness.ts';

/** Claude Sonnet 4 list prices per token: input 3, output 15, cache read 0.30, cache write (5 min) 3.75 USD per million. */
const SONNET_4 = { input: 3e-6, output: 15e-6, cacheRead: 0.3e-6, cacheWrite: 3.75e-6 };

describe("The Anthropic SDK 1.14's own span", { skip: !appsInstalled('otel2-openai7') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  before(async () => { rig = await startRig(); });
  after(() => rig?.stop());

  it('reads input_tokens as the total with cache_read and cache_write inside, users from baggage or a parent span', async () => {
    await rig.run('otel2-openai7', 'anthropic.cjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', { user_id: 'an-parent' }), 1);
    });
    const a = { user_id: 'an-a', provider: 'anthropic', model: 'claude-sonnet-4-20250514' };
    assert.equal(total(metrics, 'llm_requests_total', a), 2);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 4000, 'uncached input only');
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 300);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_write' }), 100);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 2000);
    near(total(metrics, 'llm_cost_usd_total', a),
      4000 * SONNET_4.input + 300 * SONNET_4.cacheRead + 100 * SONNET_4.cacheWrite + 2000 * SONNET_4.output, 'an-a cost');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'an-b', status: 'error' }), 1);
    assert.equal(total(metrics, 'llm_requests_total', { user_id: '__no_user__' }), 0);
    assert.equal(total(metrics, 'llm_requests_total', {}), 4);
  });
});
