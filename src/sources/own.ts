import type { DecodedSpan } from '../decode/span.ts';
import { genAiUsage } from './genai.ts';
import { call, type Source } from './source.ts';
import { INSTRUMENTED_ATTRIBUTE, STREAM_INCOMPLETE_ATTRIBUTE, STREAM_STOPPED_BY_APP_ATTRIBUTE } from '../wire/attributes.ts';

/**
 * A stream that ended before it said it was done, and not because the app stopped reading: cut off on the provider's
 * side: the app saw a failure, so it counts as one. The instrumentation now marks those spans ERROR itself; this
 * also catches the spans of copies already deployed (0.1.0), which left them UNSET with only the incomplete flag.
 * Those copies had no stopped-by-app flag, so an early `break` there counts as an error too: it cannot be told apart.
 */
export function streamCutOff(span: DecodedSpan): boolean {
  return span.attributes[STREAM_INCOMPLETE_ATTRIBUTE] === true && span.attributes[STREAM_STOPPED_BY_APP_ATTRIBUTE] !== true;
}

/** Spans of our own instrumentation: GenAI conventions, user and properties on the span itself. */
export const ownSource: Source = {
  name: 'llm-user-metrics',
  matches: (span) => span.attributes[INSTRUMENTED_ATTRIBUTE] === true,
  read: (span, options) => {
    const record = genAiUsage(span, options, { source: 'llm-user-metrics', inputIncludesCache: true });
    return call(streamCutOff(span) ? { ...record, isError: true } : record);
  },
};
