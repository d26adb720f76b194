import { firstString, firstTokenCount } from './attributes.ts';
import { splitConventionTokens } from './genai.ts';
import { usageRecord } from './record.ts';
import { call, type Source } from './source.ts';

const SPAN_KIND = 'openinference.span.kind';

/** OpenInference span kinds that are one model request; CHAIN, AGENT, TOOL, RETRIEVER, ... wrap or are not calls. */
const OPERATION_BY_KIND: Readonly<Record<string, string>> = { LLM: 'chat', EMBEDDING: 'embeddings' };

/**
 * OpenInference (`@arizeai/openinference-instrumentation-*`): its own attribute family. `llm.token_count.prompt`
 * includes cache reads and writes and `completion` includes reasoning, as the conventions. `llm.provider` is only
 * written for known hosts, so `llm.system` stands in. Streams and embeddings carry no token counts at all.
 */
export const openInferenceSource: Source = {
  name: 'openinference',
  matches: (span) => typeof span.attributes[SPAN_KIND] === 'string' || span.scopeName.startsWith('@arizeai/openinference'),
  read(span, options) {
    const attributes = span.attributes;
    const operation = OPERATION_BY_KIND[String(attributes[SPAN_KIND]).toUpperCase()];
    if (operation === undefined) return undefined;
    const prompt = firstTokenCount(attributes, ['llm.token_count.prompt']);
    const completion = firstTokenCount(attributes, ['llm.token_count.completion']);
    return call(usageRecord(span, options, {
      source: 'openinference',
      provider: firstString(attributes, ['llm.provider', 'llm.system']) ?? '',
      model: firstString(attributes, ['llm.model_name', 'embedding.model_name']) ?? '',
      operation,
      hasUsage: prompt !== undefined || completion !== undefined,
      tokens: splitConventionTokens({
        inputTotal: prompt ?? 0,
        outputTotal: completion ?? 0,
        cacheRead: firstTokenCount(attributes, ['llm.token_count.prompt_details.cache_read']) ?? 0,
        cacheWrite: firstTokenCount(attributes, ['llm.token_count.prompt_details.cache_write']) ?? 0,
        reasoning: firstTokenCount(attributes, ['llm.token_count.completion_details.reasoning']) ?? 0,
      }),
    }));
  },
};
