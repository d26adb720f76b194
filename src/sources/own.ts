import { genAiUsage } from './genai.ts';
import { call, type Source } from './source.ts';

/** Set by our own instrumentation (instrumentation/llm-call.ts) on every span it writes. */
export const INSTRUMENTED_ATTRIBUTE = 'llm_user_metrics.instrumented';

/** Spans of our own instrumentation: GenAI conventions, user and properties on the span itself. */
export const ownSource: Source = {
  name: 'llm-user-metrics',
  matches: (span) => span.attributes[INSTRUMENTED_ATTRIBUTE] === true,
  read: (span, options) => call(genAiUsage(span, options, { source: 'llm-user-metrics', inputIncludesCache: true })),
};
