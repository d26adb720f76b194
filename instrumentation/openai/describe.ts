/**
 * What an openai call (4.x to 7.x) says before and after it is made: operation, request attributes, the body to
 * send, and how to read its response and its stream events.
 */
import { SEARCH_CONTEXT_SIZE_ATTRIBUTE, USAGE_REQUESTED_ATTRIBUTE } from '../../src/wire/attributes.ts';
import { asJson, str, type Json } from '../json.ts';
import type { ResponseFields } from '../llm-call.ts';
import { pickRequestAttributes, serverOf, type CallInput, type PreparedCall } from '../patch.ts';
import type { EventVerdict, StreamAccumulator } from '../stainless.ts';
import { openaiChatUsage, openaiResponsesUsage, searchContextSize, type TokenUsage } from '../usage.ts';

export type OpenAIEndpoint = 'chat' | 'responses' | 'embeddings' | 'completions';


const REQUEST_ATTRIBUTES: Record<OpenAIEndpoint, Record<string, string>> = {
  chat: { max_completion_tokens: 'gen_ai.request.max_tokens', max_tokens: 'gen_ai.request.max_tokens', temperature: 'gen_ai.request.temperature', top_p: 'gen_ai.request.top_p' },
  responses: { max_output_tokens: 'gen_ai.request.max_tokens', temperature: 'gen_ai.request.temperature', top_p: 'gen_ai.request.top_p' },
  completions: { max_tokens: 'gen_ai.request.max_tokens', temperature: 'gen_ai.request.temperature', top_p: 'gen_ai.request.top_p' },
  embeddings: {},
};

const OPERATION = { chat: 'chat', responses: 'chat', embeddings: 'embeddings', completions: 'text_completion' } as const;

/**
 * OpenAI-compatible APIs the openai client is pointed at, by host: named as themselves, since the price catalogue
 * knows their models (Perplexity's `sonar`) only under their own provider.
 */
const PROVIDER_BY_HOST: ReadonlyMap<string, 'perplexity'> = new Map([['api.perplexity.ai', 'perplexity']]);

function finishReasons(choices: unknown): string[] {
  if (!Array.isArray(choices)) return [];
  return choices.map((c) => str(asJson(c).finish_reason)).filter((r): r is string => r !== undefined);
}

export function chatResponse(data: unknown): ResponseFields {
  const d = asJson(data);
  return { model: str(d.model), id: str(d.id), finishReasons: finishReasons(d.choices), usage: openaiChatUsage(d.usage) };
}

export function embeddingsResponse(data: unknown): ResponseFields {
  const d = asJson(data);
  return { model: str(d.model), usage: openaiChatUsage(d.usage) };
}

export function responsesResponse(data: unknown): ResponseFields {
  const d = asJson(data);
  const reason = str(asJson(d.incomplete_details).reason) ?? str(d.status);
  // A failed response arrives as HTTP 200 (or a response.failed event): only its status and error code say so.
  const errorType = d.status === 'failed' ? (str(asJson(d.error).code) ?? 'failed') : undefined;
  return { model: str(d.model), id: str(d.id), finishReasons: reason ? [reason] : [], usage: openaiResponsesUsage(d.usage), errorType };
}

const nonEmpty = (value: unknown) => (typeof value === 'string' && value !== '') || (Array.isArray(value) && value.length > 0);

/** A chat or legacy completion chunk with generated output: text, refusal, tool or function call, reasoning, audio. */
export function chunkCarriesOutput(event: unknown): boolean {
  const choices = asJson(event).choices;
  if (!Array.isArray(choices)) return false;
  return choices.some((choice) => {
    const c = asJson(choice);
    const d = asJson(c.delta);
    return nonEmpty(c.text) || nonEmpty(d.content) || nonEmpty(d.refusal) || nonEmpty(d.tool_calls) || nonEmpty(d.reasoning_content)
      || nonEmpty(d.reasoning) || (typeof d.function_call === 'object' && d.function_call !== null) || (typeof d.audio === 'object' && d.audio !== null);
  });
}

/** Responses stream events with output are the `*.delta` ones (text, refusal, function arguments, reasoning, audio). */
export function responsesEventCarriesOutput(event: unknown): boolean {
  const type = str(asJson(event).type);
  return type !== undefined && type.endsWith('.delta');
}

/**
 * Chat and legacy completion chunks. When we asked for usage on the app's behalf, the provider adds `usage: null`
 * to every chunk and one last chunk with empty (or no) choices: both are put back as the app would have seen them.
 */
export function chunkAccumulator(usageInjected: boolean): StreamAccumulator {
  let model: string | undefined;
  let id: string | undefined;
  let usage: TokenUsage | undefined;
  const reasons: string[] = [];
  return {
    onEvent(event: unknown): EventVerdict {
      const chunk = asJson(event);
      model ??= str(chunk.model);
      id ??= str(chunk.id);
      for (const reason of finishReasons(chunk.choices)) reasons.push(reason);
      if (chunk.usage && typeof chunk.usage === 'object') usage = openaiChatUsage(chunk.usage);
      if (!usageInjected) return 'keep';
      // The usage chunk: `choices: []` from OpenAI, no `choices` at all from some OpenAI-compatible servers.
      const noChoices = chunk.choices === undefined || (Array.isArray(chunk.choices) && chunk.choices.length === 0);
      if (noChoices && chunk.usage && typeof chunk.usage === 'object') return 'hide';
      if ('usage' in chunk && chunk.usage === null) {
        delete chunk.usage;
        return 'strip-usage';
      }
      return 'keep';
    },
    carriesOutput: chunkCarriesOutput,
    result() {
      // A finish reason ends the output; a provider that ignores stream_options sends no usage, yet its stream is whole.
      const complete = reasons.length > 0 || usage !== undefined;
      return { model, id, finishReasons: reasons, usage, complete };
    },
  };
}

const TERMINAL_RESPONSE_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

export function responsesAccumulator(): StreamAccumulator {
  let fields: ResponseFields = {};
  let complete = false;
  return {
    onEvent(event: unknown): EventVerdict {
      const e = asJson(event);
      const type = str(e.type);
      if (type === 'response.created' && !complete) fields = { ...fields, ...responsesResponse(e.response), finishReasons: [] };
      else if (type && TERMINAL_RESPONSE_EVENTS.has(type)) {
        fields = responsesResponse(e.response);
        complete = true;
      } else if (type === 'error') {
        // The SDK throws on it when iterating; a raw asResponse() body shows it to us as an event.
        fields = { ...fields, errorType: str(e.code) ?? 'error' };
        complete = true;
      }
      return 'keep';
    },
    carriesOutput: responsesEventCarriesOutput,
    result: () => ({ ...fields, complete }),
  };
}

export interface OpenAIOptions {
  readonly injectStreamUsage: boolean;
}

export function describeOpenAI(endpoint: OpenAIEndpoint, input: CallInput, options: OpenAIOptions): PreparedCall | undefined {
  const body = input.body;
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Json;
  const stream = b.stream === true;
  const canAskUsage = stream && (endpoint === 'chat' || endpoint === 'completions');
  const appAskedUsage = asJson(b.stream_options).include_usage === true;
  const inject = canAskUsage && !appAskedUsage && options.injectStreamUsage;
  // A new body object: the SDK (7) decides streaming from the serialized body, and the app's object stays as it was.
  const sent = inject ? { ...b, stream_options: { ...asJson(b.stream_options), include_usage: true } } : body;
  const server = serverOf(input.client);
  // Perplexity's search tier as asked for; the response's `usage.search_context_size`, where sent, replaces it.
  const askedSearchContext = searchContextSize(asJson(b.web_search_options).search_context_size);
  const start = {
    operation: OPERATION[endpoint],
    provider: PROVIDER_BY_HOST.get(server.serverAddress ?? '') ?? ('openai' as const),
    requestModel: str(b.model),
    ...server,
    stream,
    requestAttributes: {
      ...pickRequestAttributes(body, REQUEST_ATTRIBUTES[endpoint]),
      ...(inject ? { [USAGE_REQUESTED_ATTRIBUTE]: true } : {}),
      ...(askedSearchContext === undefined ? {} : { [SEARCH_CONTEXT_SIZE_ATTRIBUTE]: askedSearchContext }),
    },
  };
  const fromResponse = endpoint === 'responses' ? responsesResponse : endpoint === 'embeddings' ? embeddingsResponse : chatResponse;
  const newAccumulator = endpoint === 'responses'
    ? responsesAccumulator
    : () => chunkAccumulator(inject);
  return { start, body: sent, fromResponse, newAccumulator };
}
