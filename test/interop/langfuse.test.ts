import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appsInstalled, eventually, GPT_4O_MINI, near, startRig, total, type Rig } from './harness.ts';

describe('Langfuse @langfuse/openai + @langfuse/otel 5.11 (openai 7)', { skip: !appsInstalled('otel2-openai7') && 'run scripts/install-interop-apps.sh' }, () => {
  let rig: Rig;
  before(async () => { rig = await startRig(); });
  after(() => rig?.stop());

  it('adds the disjoint usage_details back up, and counts failures (level=ERROR) and streams without usage', async () => {
    await rig.run('otel2-openai7', 'langfuse.cjs');
    const metrics = await eventually(rig.processor, (text) => {
      assert.equal(total(text, 'llm_requests_total', {}), 4);
    });
    const a = { user_id: 'lf-a', provider: 'openai', model: 'gpt-4o-mini-2024-07-18' };
    assert.equal(total(metrics, 'llm_requests_total', a), 2);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'input' }), 1000 + 800);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'cache_read' }), 200);
    assert.equal(total(metrics, 'llm_tokens_total', { ...a, type: 'output' }), 1000, 'reasoning added back into output');
    near(total(metrics, 'llm_cost_usd_total', a), 1800 * GPT_4O_MINI.input + 200 * GPT_4O_MINI.cacheRead + 1000 * GPT_4O_MINI.output, 'lf-a cost');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'lf-b', status: 'ok' }), 1, 'the stream');
    assert.equal(total(metrics, 'llm_requests_total', { user_id: 'lf-b', status: 'error' }), 1, 'the 429');
    assert.equal(total(metrics, 'llm_requests_without_usage_total', { source: 'langfuse' }), 2);
  });
});
