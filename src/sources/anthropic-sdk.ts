import { genAiUsage } from './genai.ts';
import { call, type Source } from './source.ts';

export const ANTHROPIC_SDK_SCOPE = 'com.anthropic.sdk.typescript';

/**
 * The span `@anthropic-ai/sdk` (1.x) writes for each `messages.create` when a tracer provider is registered. Its
 * `input_tokens` is the total including cache reads and writes, as the conventions say, and its cache writes are
 * `cache_write.input_tokens` (read by the GenAI mapping too). It records no user; and because it is written from
 * inside the SDK, an instrumentation wrapping the SDK (ours, OpenLIT) has its own span around the same call.
 */
export const anthropicSdkSource: Source = {
  name: 'anthropic-sdk',
  matches: (span) => span.scopeName === ANTHROPIC_SDK_SCOPE,
  read: (span, options) => call(genAiUsage(span, options, { source: 'anthropic-sdk', inputIncludesCache: true }), true),
};
