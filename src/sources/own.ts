import { genAiUsage } from './genai.ts';
import { call, type Source } from './source.ts';
import { INSTRUMENTED_ATTRIBUTE } from '../wire/attributes.ts';

/** Spans of our own instrumentation: GenAI conventions, user and properties on the span itself. */
export const ownSource: Source = {
  name: 'llm-user-metrics',
  matches: (span) => span.attributes[INSTRUMENTED_ATTRIBUTE] === true,
  read: (span, options) => call(genAiUsage(span, options, { source: 'llm-user-metrics', inputIncludesCache: true })),
};
