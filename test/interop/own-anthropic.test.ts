/**
 * Our instrumentation and the Anthropic SDK's own span on the same calls: the packed package installed with the real
 * SDK into a temp app (a folder install would keep our own @opentelemetry/api copy and silently hide the SDK's span,
 * see sdk-facts.md), run once per ANTHROPIC_OPEN_TELEMETRY setting. Each call must count once, under our span's user.
 */
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ANTHROPIC_USAGE } from '../fixtures/provider-stand-in.ts';
import { installApp, installedVersion, makeTempRoot, packTarball, runApp } from '../instrumentation/packed-app.ts';
import { eventually, near, startRig, total, type Rig } from './harness.ts';

const CLAUDE = 'claude-sonnet-4-20250514';
/** Claude Sonnet 4 list prices per token: input 3, output 15, cache read 0.30, cache write (5 min) 3.75 USD per million. */
const SONNET_4 = { input: 3e-6, output: 15e-6, cacheRead: 0.3e-6, cacheWrite: 3.75e-6 };
/** The app's calls: three that succeed (one with cache tokens, one streamed) and one refused with a 429. */
const OK_CALLS = 3;
const CALLS = OK_CALLS + 1;

/** The value of a metric without labels. */
function unlabelled(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} missing from /metrics`);
  return Number(line.slice(name.length + 1));
}

describe("our instrumentation beside the Anthropic SDK 1.x's own span (packed package)", () => {
  let temp: Awaited<ReturnType<typeof makeTempRoot>>;
  let app: string;
  before(async () => {
    temp = await makeTempRoot();
    const tarball = await packTarball(temp.root);
    app = await installApp(temp.root, 'own-anthropic', tarball, [`@anthropic-ai/sdk@${await installedVersion('@anthropic-ai/sdk')}`]);
    await copyFile(new URL('./packed/own-anthropic.cjs', import.meta.url), join(app, 'app.cjs'));
  }, { timeout: 120_000 });
  after(() => temp?.remove());

  const settings = [
    { label: 'unset (on by default)', value: undefined, sdkSpans: true },
    { label: 'true', value: 'true', sdkSpans: true },
    { label: 'false', value: 'false', sdkSpans: false },
  ] as const;

  for (const setting of settings) {
    it(`ANTHROPIC_OPEN_TELEMETRY ${setting.label}: each call once, under our user, at the right price`, async () => {
      // A processor per run, so that the span counters below belong to this run alone.
      const rig: Rig = await startRig();
      try {
        const user = `own-${setting.value ?? 'default'}`;
        const env: Record<string, string> = {
          PROVIDER_URL: rig.provider.url, APP_USER: user, OTEL_EXPORTER_OTLP_ENDPOINT: rig.processor.url, OTEL_SERVICE_NAME: user,
          ...(setting.value === undefined ? {} : { ANTHROPIC_OPEN_TELEMETRY: setting.value }),
        };
        const result = await runApp(app, 'app.cjs', '--require', env);
        assert.equal(result.code, 0, result.stderr);
        // The SDK's spans wait for their parent (ours, exported just before), so the counters settle last.
        const sdkSpans = setting.sdkSpans ? CALLS : 0;
        const metrics = await eventually(rig.processor, (text) => {
          assert.equal(unlabelled(text, 'llm_user_metrics_spans_received_total'), CALLS + sdkSpans, 'our spans and the SDK\'s');
          assert.equal(total(text, 'llm_requests_total', { user_id: user }), CALLS);
          assert.equal(unlabelled(text, 'llm_user_metrics_spans_ignored_total'), sdkSpans, 'the SDK\'s spans, as duplicates');
        });
        const u = { user_id: user, provider: 'anthropic', model: CLAUDE };
        assert.equal(total(metrics, 'llm_requests_total', { ...u, status: 'ok' }), OK_CALLS);
        assert.equal(total(metrics, 'llm_requests_total', { user_id: user, status: 'error' }), 1, 'the 429');
        assert.equal(total(metrics, 'llm_requests_total', { user_id: '__no_user__' }), 0, 'no SDK span counted on its own');
        assert.equal(total(metrics, 'llm_requests_total', {}), CALLS);
        assert.equal(total(metrics, 'llm_tokens_total', { ...u, type: 'input' }), OK_CALLS * ANTHROPIC_USAGE.input);
        assert.equal(total(metrics, 'llm_tokens_total', { ...u, type: 'cache_read' }), 300);
        assert.equal(total(metrics, 'llm_tokens_total', { ...u, type: 'cache_write' }), 100);
        assert.equal(total(metrics, 'llm_tokens_total', { ...u, type: 'output' }), OK_CALLS * ANTHROPIC_USAGE.output);
        near(total(metrics, 'llm_cost_usd_total', u),
          OK_CALLS * (ANTHROPIC_USAGE.input * SONNET_4.input + ANTHROPIC_USAGE.output * SONNET_4.output)
            + 300 * SONNET_4.cacheRead + 100 * SONNET_4.cacheWrite, `${user} cost`);
      } finally {
        await rig.stop();
      }
    });
  }
});
