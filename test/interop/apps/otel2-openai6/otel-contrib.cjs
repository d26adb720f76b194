// @opentelemetry/instrumentation-openai 0.21 on the OTel JS SDK 2.x, openai 6: the user from baggage, or on a parent span.
const { context, propagation, trace } = require('@opentelemetry/api');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { BaggageSpanProcessor, ALLOW_ALL_BAGGAGE_KEYS } = require('@opentelemetry/baggage-span-processor');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');

const provider = new NodeTracerProvider({
  spanProcessors: [
    new BaggageSpanProcessor(ALLOW_ALL_BAGGAGE_KEYS),
    new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` })),
  ],
});
provider.register();
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
const OpenAI = require('openai');

const client = new OpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in', maxRetries: 0 });
const asUser = (user, fn) => context.with(propagation.setBaggage(context.active(), propagation.createBaggage({ 'user.id': { value: user } })), fn);
const hi = [{ role: 'user', content: 'hi' }];

async function main() {
  await asUser('otel-a', () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }));
  await asUser('otel-a', () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }, { headers: { 'x-stand-in-usage': 'cached=200,reasoning=100' } }));
  await asUser('otel-b', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, stream: true });
    for await (const _ of stream);
    await client.chat.completions.create({ model: 'refuse-429', messages: hi }).catch(() => {});
  });
  // The user on an app span around the call, exported after it: the processor joins them by trace.
  const tracer = trace.getTracer('interop-app');
  await tracer.startActiveSpan('handle request', { attributes: { 'enduser.id': 'otel-parent' } }, async (span) => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    span.end();
  });
  await provider.forceFlush();
  await provider.shutdown();
}
main().catch((error) => { console.error(error); process.exit(1); });
