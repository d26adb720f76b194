// Vercel AI SDK 6 with its own telemetry (experimental_telemetry): the user in metadata.userId on both spans of a call.
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';

const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` }))] });
provider.register();
const openai = createOpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in' });
const as = (userId) => ({ experimental_telemetry: { isEnabled: true, metadata: { userId, plan: 'pro' } }, maxRetries: 0 });

await generateText({ model: openai('gpt-4o-mini'), prompt: 'hi', ...as('v6-a') });
await generateText({ model: openai('gpt-4o-mini'), prompt: 'hi', ...as('v6-a'), headers: { 'x-stand-in-usage': 'cached=200,reasoning=100' } });
const streamed = streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'hi', ...as('v6-b') });
for await (const _ of streamed.textStream);
await generateText({ model: openai('refuse-429'), prompt: 'hi', ...as('v6-b') }).catch(() => {});
await provider.forceFlush();
await provider.shutdown();
