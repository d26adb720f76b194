// Langfuse's observeOpenAI with openai 7, exported by LangfuseSpanProcessor to any OTLP endpoint.
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { LangfuseSpanProcessor } = require('@langfuse/otel');
const { observeOpenAI } = require('@langfuse/openai');
const OpenAI = require('openai');

const processor = new LangfuseSpanProcessor({
  exporter: new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` }), exportMode: 'immediate',
  publicKey: 'pk-stand-in', secretKey: 'sk-stand-in', baseUrl: process.env.OTLP_URL,
});
const provider = new NodeTracerProvider({ spanProcessors: [processor] });
provider.register();

const client = (userId) => observeOpenAI(new OpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in', maxRetries: 0 }), { userId });
const hi = [{ role: 'user', content: 'hi' }];

async function main() {
  await client('lf-a').chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
  await client('lf-a').chat.completions.create({ model: 'gpt-4o-mini', messages: hi }, { headers: { 'x-stand-in-usage': 'cached=200,reasoning=100' } });
  const stream = await client('lf-b').chat.completions.create({ model: 'gpt-4o-mini', messages: hi, stream: true });
  for await (const _ of stream);
  await client('lf-b').chat.completions.create({ model: 'refuse-429', messages: hi }).catch(() => {});
  await processor.forceFlush();
  await provider.shutdown();
}
main().catch((error) => { console.error(error); process.exit(1); });
