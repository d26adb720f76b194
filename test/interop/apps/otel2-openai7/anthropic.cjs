// The Anthropic SDK's own span (on by default): no user of its own; from baggage, or from an app span around the call.
const { context, propagation, trace } = require('@opentelemetry/api');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { BaggageSpanProcessor, ALLOW_ALL_BAGGAGE_KEYS } = require('@opentelemetry/baggage-span-processor');

const provider = new NodeTracerProvider({
  spanProcessors: [
    new BaggageSpanProcessor(ALLOW_ALL_BAGGAGE_KEYS),
    new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` })),
  ],
});
provider.register();
const Anthropic = require('@anthropic-ai/sdk');
const client = new Anthropic({ baseURL: process.env.PROVIDER_URL, apiKey: 'sk-ant-stand-in', maxRetries: 0 });
const asUser = (user, fn) => context.with(propagation.setBaggage(context.active(), propagation.createBaggage({ 'user.id': { value: user } })), fn);
const ask = (model, headers) => client.messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { headers });

async function main() {
  await asUser('an-a', () => ask('claude-sonnet-4-20250514'));
  await asUser('an-a', () => ask('claude-sonnet-4-20250514', { 'x-stand-in-usage': 'cached=300,cache_write=100' }));
  await asUser('an-b', () => ask('refuse-429').catch(() => {}));
  await trace.getTracer('interop-app').startActiveSpan('handle request', { attributes: { 'enduser.id': 'an-parent' } }, async (span) => {
    await ask('claude-sonnet-4-20250514');
    span.end();
  });
  await provider.forceFlush();
  await provider.shutdown();
}
main().catch((error) => { console.error(error); process.exit(1); });
