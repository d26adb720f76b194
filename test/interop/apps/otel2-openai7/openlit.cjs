// OpenLIT 1.15 with openai 7 and the Anthropic SDK 1.x: its own provider and OTLP JSON exporter, the user through
// usingAttributes. Its Anthropic span wraps the Anthropic SDK's own span of the same call.
const openlit = require('openlit').default;
const { trace } = require('@opentelemetry/api');

// pricingJson: {} keeps OpenLIT from downloading its price list (the test runs offline; its cost attribute is not read).
openlit.init({
  otlpEndpoint: process.env.OTLP_URL, applicationName: 'interop-openlit', disableBatch: true,
  disableEvents: true, disableMetrics: true, pricingJson: {},
});
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

const openai = new OpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in', maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: process.env.PROVIDER_URL, apiKey: 'sk-ant-stand-in', maxRetries: 0 });
const asUser = (user, fn) => openlit.usingAttributes({ 'user.id': user }, fn);
const hi = [{ role: 'user', content: 'hi' }];
const usage = (spec) => ({ headers: { 'x-stand-in-usage': spec } });

async function main() {
  await asUser('lit-a', () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }));
  await asUser('lit-a', () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }, usage('cached=200,reasoning=100')));
  await asUser('lit-r', () => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi' }, usage('cached=200,reasoning=100')));
  await asUser('lit-b', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, stream: true });
    for await (const _ of stream);
    await openai.chat.completions.create({ model: 'refuse-429', messages: hi }).catch(() => {});
  });
  await asUser('lit-claude', () => anthropic.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 100, messages: hi }, usage('cached=300,cache_write=100')));
  // The user on an app span around the call, ended (and exported) after it.
  await trace.getTracer('interop-app').startActiveSpan('handle request', { attributes: { 'enduser.id': 'lit-parent' } }, async (span) => {
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    span.end();
  });
  const provider = trace.getTracerProvider().getDelegate();
  await provider.forceFlush();
  await provider.shutdown();
}
main().catch((error) => { console.error(error); process.exit(1); });
