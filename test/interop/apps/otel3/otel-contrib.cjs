// @opentelemetry/instrumentation-openai 0.22 on the OTel JS SDK 3.x, openai 6: the user from baggage, or on a parent
// span. 3.x has no NodeTracerProvider.register(): the context manager, provider and propagator are set one by one.
const { context, propagation, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CBaggagePropagator } = require('@opentelemetry/core');
const { SimpleSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { BaggageSpanProcessor, ALLOW_ALL_BAGGAGE_KEYS } = require('@opentelemetry/baggage-span-processor');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');

context.setGlobalContextManager(new AsyncLocalStorageContextManager());
propagation.setGlobalPropagator(new W3CBaggagePropagator());
const provider = new TracerProvider({
  spanProcessors: [
    new BaggageSpanProcessor(ALLOW_ALL_BAGGAGE_KEYS),
    new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` }) }),
  ],
});
trace.setGlobalTracerProvider(provider);
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
const OpenAI = require('openai');

const client = new OpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in', maxRetries: 0 });
const asUser = (user, fn) => context.with(propagation.setBaggage(context.active(), propagation.createBaggage({ 'user.id': { value: user } })), fn);
const hi = [{ role: 'user', content: 'hi' }];
const usage = (spec) => ({ headers: { 'x-stand-in-usage': spec } });

async function main() {
  await asUser('otel3-a', () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }));
  await asUser('otel3-a', () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }, usage('cached=200,reasoning=100')));
  // Responses API: the provider under gen_ai.provider.name instead of gen_ai.system.
  await asUser('otel3-r', () => client.responses.create({ model: 'gpt-4o-mini', input: 'hi' }));
  await asUser('otel3-b', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, stream: true });
    for await (const _ of stream);
    await client.chat.completions.create({ model: 'refuse-429', messages: hi }).catch(() => {});
  });
  await trace.getTracer('interop-app').startActiveSpan('handle request', { attributes: { 'enduser.id': 'otel3-parent' } }, async (span) => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    span.end();
  });
  await provider.forceFlush();
  await provider.shutdown();
}
main().catch((error) => { console.error(error); process.exit(1); });
