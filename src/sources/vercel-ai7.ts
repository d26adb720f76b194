import { firstTokenCount } from './attributes.ts';
import { genAiUsage, WRAPPER_OPERATIONS } from './genai.ts';
import { call, type Source } from './source.ts';

/** The tracer name `@ai-sdk/otel` uses unless the app passes a tracer of its own. */
export const AI_SDK_7_SCOPE = 'gen_ai';

const REASONING = ['ai.usage.outputTokenDetails.reasoningTokens', 'ai.usage.reasoningTokens'];

/**
 * The Vercel AI SDK 7 with `@ai-sdk/otel`: `invoke_agent` > `step` > `chat` per call, GenAI conventions, usage on
 * both `invoke_agent` (the total over its steps) and `chat` (one provider request). Only `chat` (and `embeddings`,
 * ...) spans are counted; the user (`ai.settings.context.<key>`) is on `invoke_agent` and `step` only, so it reaches
 * the call through its ancestors. Reasoning tokens are only in `ai.usage.*`, written with `usage: true`.
 */
export const vercelAi7Source: Source = {
  name: 'vercel-ai7',
  matches: (span) => span.scopeName === AI_SDK_7_SCOPE,
  read(span, options) {
    const operation = span.attributes['gen_ai.operation.name'];
    if (typeof operation !== 'string' || WRAPPER_OPERATIONS.has(operation)) return undefined;
    const record = genAiUsage(span, options, { source: 'vercel-ai7', inputIncludesCache: true });
    const reasoning = firstTokenCount(span.attributes, REASONING);
    if (reasoning === undefined || record.tokens.reasoning !== 0 || reasoning > record.tokens.output) return call(record);
    return call({ ...record, tokens: { ...record.tokens, reasoning } });
  },
};
