import { genAiUsage, isGenAiSpan } from './genai.ts';
import { call, type Source } from './source.ts';

/**
 * OpenTelemetry's own GenAI instrumentations (`@opentelemetry/instrumentation-openai`, on the SDK 2.x and 3.x
 * lines): the conventions as written, input and output as totals. They report no cache or reasoning tokens, so a
 * cached prompt is priced at the full input rate, and they record no user: apps put `user.id` in baggage (with
 * `@opentelemetry/baggage-span-processor`) or on an ancestor span.
 */
export const otelContribSource: Source = {
  name: 'otel-contrib',
  matches: (span) => span.scopeName.startsWith('@opentelemetry/instrumentation-') && isGenAiSpan(span),
  read: (span, options) => call(genAiUsage(span, options, { source: 'otel-contrib', inputIncludesCache: true })),
};
