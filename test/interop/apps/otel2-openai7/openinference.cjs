// OpenInference's openai instrumentation with openai 7: the user through openinference-core's setUser.
const { context } = require('@opentelemetry/api');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OpenAIInstrumentation } = require('@arizeai/openinference-instrumentation-openai');
const { setUser } = require('@arizeai/openinference-core');

const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` }))] });
provider.register();
const instrumentation = new OpenAIInstrumentation();
instrumentation.setTracerProvider(provider);
const OpenAI = require('openai');
instrumentation.manuallyInstrument(OpenAI);

const client = new OpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in', maxRetries: 0 });
const asUser = (userId, fn) => context.with(setUser(context.active(), { userId }), fn);
const hi = [{ role: 'user', content: 'hi' }];

async function main() {
  await asUser('oi-a', () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }));
  await asUser('oi-a', () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }, { headers: { 'x-stand-in-usage': 'cached=200,reasoning=100' } }));
  await asUser('oi-b', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, stream: true });
    for await (const _ of stream);
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    await client.chat.completions.create({ model: 'refuse-429', messages: hi }).catch(() => {});
  });
  await provider.forceFlush();
  await provider.shutdown();
}
main().catch((error) => { console.error(error); process.exit(1); });
