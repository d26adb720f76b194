import { genAiUsage, isGenAiSpan, WRAPPER_OPERATIONS } from './genai.ts';
import { call, type Source } from './source.ts';

/**
 * OpenLLMetry (`@traceloop/node-server-sdk`): GenAI conventions, the user in association properties
 * (`traceloop.association.properties.<the app's key>`). Streamed calls carry tiktoken estimates that cannot be told
 * from measured counts; failed calls and embeddings produce no span at all.
 */
export const openLlmetrySource: Source = {
  name: 'openllmetry',
  matches: (span) => span.scopeName.startsWith('@traceloop/') && isGenAiSpan(span),
  read(span, options) {
    const operation = span.attributes['gen_ai.operation.name'];
    if (typeof operation === 'string' && WRAPPER_OPERATIONS.has(operation)) return undefined;
    return call(genAiUsage(span, options, { source: 'openllmetry', inputIncludesCache: true }));
  },
};
