import { genAiUsage, isGenAiSpan } from './genai.ts';
import { call, type Source } from './source.ts';

/**
 * OpenLIT: GenAI conventions, except that for Anthropic it copies the API's `input_tokens`, which excludes cache
 * reads and writes, where the conventions (and the Anthropic SDK's own span) include them. Its `gen_ai.usage.cost`
 * is not read: it is 0 whenever OpenLIT could not download its price list.
 */
export const openLitSource: Source = {
  name: 'openlit',
  matches: (span) =>
    (span.scopeName.startsWith('@openlit/') || span.attributes['telemetry.sdk.name'] === 'openlit') && isGenAiSpan(span),
  read(span, options) {
    const provider = span.attributes['gen_ai.provider.name'] ?? span.attributes['gen_ai.system'];
    const inputIncludesCache = typeof provider !== 'string' || provider.toLowerCase() !== 'anthropic';
    return call(genAiUsage(span, options, { source: 'openlit', inputIncludesCache }));
  },
};
