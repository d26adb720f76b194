import type { DecodedSpan } from '../decode/span.ts';
import { firstString, firstTokenCount } from './attributes.ts';
import { splitConventionTokens } from './genai.ts';
import { usageRecord } from './record.ts';
import { call, type Source } from './source.ts';

/**
 * The Vercel AI SDK's own telemetry (6.x, and 7.x's `LegacyOpenTelemetry`), scope `ai`. One call makes a parent
 * (`ai.generateText`, `ai.streamText`, `ai.embed`, ...) and one `do*` child per provider request, both with
 * `ai.usage.*`: the parent's is the total over its steps, so only the `do*` spans are counted and the parent only
 * lends its user to them when they lack it.
 */
export const vercelAiSource: Source = {
  name: 'vercel-ai',
  matches: (span) => span.scopeName === 'ai' || typeof span.attributes['ai.operationId'] === 'string',
  read(span, options) {
    const operationId = firstString(span.attributes, ['ai.operationId', 'operation.name']) ?? '';
    const provide = PROVIDER_REQUEST.exec(operationId);
    if (provide === null) return undefined;
    return call(usageRecord(span, options, {
      source: 'vercel-ai',
      provider: providerOf(firstString(span.attributes, ['ai.model.provider', 'gen_ai.system']) ?? ''),
      model: firstString(span.attributes, ['ai.response.model', 'gen_ai.response.model', 'ai.model.id']) ?? '',
      operation: provide[1] === 'Embed' ? 'embeddings' : 'chat',
      ...vercelTokens(span),
      timeToFirstTokenSeconds: firstChunkSeconds(span),
    }));
  },
};

/** `ai.generateText.doGenerate`, `ai.streamText.doStream`, `ai.embed.doEmbed`, `ai.embedMany.doEmbed`, ... */
const PROVIDER_REQUEST = /\.do(Generate|Stream|Embed)$/;

/** `openai.responses`, `openai.chat`, `anthropic.messages` -> the provider before the dot. */
export function providerOf(aiSdkProvider: string): string {
  const dot = aiSdkProvider.indexOf('.');
  return dot === -1 ? aiSdkProvider : aiSdkProvider.slice(0, dot);
}

const INPUT = ['ai.usage.inputTokens', 'ai.usage.promptTokens', 'ai.usage.tokens'];
const OUTPUT = ['ai.usage.outputTokens', 'ai.usage.completionTokens'];
const CACHE_READ = ['ai.usage.inputTokenDetails.cacheReadTokens', 'ai.usage.cachedInputTokens'];
const CACHE_WRITE = ['ai.usage.inputTokenDetails.cacheWriteTokens'];
const REASONING = ['ai.usage.outputTokenDetails.reasoningTokens', 'ai.usage.reasoningTokens'];

/** `ai.usage.inputTokens` includes cache reads and writes and `outputTokens` includes reasoning, as the conventions. */
export function vercelTokens(span: DecodedSpan) {
  const attributes = span.attributes;
  const input = firstTokenCount(attributes, INPUT);
  const output = firstTokenCount(attributes, OUTPUT);
  return {
    hasUsage: input !== undefined || output !== undefined,
    tokens: splitConventionTokens({
      inputTotal: input ?? 0,
      outputTotal: output ?? 0,
      cacheRead: firstTokenCount(attributes, CACHE_READ) ?? 0,
      cacheWrite: firstTokenCount(attributes, CACHE_WRITE) ?? 0,
      reasoning: firstTokenCount(attributes, REASONING) ?? 0,
    }),
  };
}

function firstChunkSeconds(span: DecodedSpan): number | undefined {
  const ms = span.attributes['ai.response.msToFirstChunk'];
  return typeof ms === 'number' && ms >= 0 ? ms / 1000 : undefined;
}
