// OpenLLMetry's SDK beside the Vercel AI SDK 6: it rewrites the AI SDK's spans (both named `chat ...`, the user key
// moved to traceloop.association.properties.userId); openai 6 through its own instrumentation, user in association properties.
import * as traceloop from '@traceloop/node-server-sdk';
import { generateText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import OpenAI from 'openai';

traceloop.initialize({ baseUrl: process.env.OTLP_URL, disableBatch: true, headers: {}, instrumentModules: { openAI: OpenAI }, silenceInitializationMessage: true });
const openai = createOpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in' });
await generateText({ model: openai('gpt-4o-mini'), prompt: 'hi', experimental_telemetry: { isEnabled: true, metadata: { userId: 'tl-ai' } }, maxRetries: 0 });
const client = new OpenAI({ baseURL: `${process.env.PROVIDER_URL}/v1`, apiKey: 'sk-stand-in', maxRetries: 0 });
await traceloop.withAssociationProperties({ user_id: 'tl-openai' }, () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
await traceloop.forceFlush();
process.exit(0);
