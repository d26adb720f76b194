// Vercel AI SDK 7 with @ai-sdk/otel on the OTel JS SDK 3.x: the user in the runtime context, on invoke_agent and step only.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { generateText, streamText, registerTelemetry } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { OpenTelemetry } from '@ai-sdk/otel';

context.setGlobalContextManager(new AsyncLocalStorageContextManager());
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` }) })] });
trace.setGlobalTracerProvider(provider);
registerTelemetry(new OpenTelemetry({ runtimeContext: true, usage: true }));

const openai = createOpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in' });
const as = (userId) => ({ runtimeContext: { userId, plan: 'pro' }, telemetry: { includeRuntimeContext: { userId: true, plan: true } }, maxRetries: 0 });

await generateText({ model: openai('gpt-4o-mini'), prompt: 'hi', ...as('v7-a') });
await generateText({ model: openai('gpt-4o-mini'), prompt: 'hi', ...as('v7-a'), headers: { 'x-stand-in-usage': 'cached=200,reasoning=100' } });
const streamed = streamText({ model: openai('gpt-4o-mini'), prompt: 'hi', ...as('v7-b') });
for await (const _ of streamed.textStream);
await generateText({ model: openai('refuse-429'), prompt: 'hi', ...as('v7-b') }).catch(() => {});
await provider.forceFlush();
await provider.shutdown();
