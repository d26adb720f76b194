/** What an @anthropic-ai/sdk `messages.create` call says: request attributes, response and stream events. */
import { asJson, str, type Json } from '../json.ts';
import type { ResponseFields } from '../llm-call.ts';
import { pickRequestAttributes, serverOf, type CallInput, type PreparedCall } from '../patch.ts';
import type { EventVerdict, StreamAccumulator } from '../stainless.ts';
import { anthropicUsage } from '../usage.ts';


export function messageResponse(data: unknown): ResponseFields {
  const d = asJson(data);
  const reason = str(d.stop_reason);
  return { model: str(d.model), id: str(d.id), finishReasons: reason ? [reason] : [], usage: anthropicUsage(d.usage) };
}

/**
 * `message_start` carries the input counts (and `output_tokens: 1`); each `message_delta` carries cumulative totals.
 * So later fields replace earlier ones; they are never added.
 */
export function messageStreamAccumulator(): StreamAccumulator {
  let model: string | undefined;
  let id: string | undefined;
  let stopReason: string | undefined;
  let usage: Json = {};
  let complete = false;
  let errorType: string | undefined;
  return {
    onEvent(event: unknown): EventVerdict {
      const e = asJson(event);
      if (e.type === 'message_start') {
        const message = asJson(e.message);
        model = str(message.model);
        id = str(message.id);
        usage = { ...asJson(message.usage) };
      } else if (e.type === 'message_delta') {
        stopReason = str(asJson(e.delta).stop_reason) ?? stopReason;
        for (const [key, value] of Object.entries(asJson(e.usage))) if (value !== null && value !== undefined) usage[key] = value;
      } else if (e.type === 'message_stop') {
        complete = true;
      } else if (e.type === 'error') {
        // The SDK throws on it when iterating; a raw asResponse() body shows it to us as an event.
        errorType = str(asJson(e.error).type) ?? 'error';
        complete = true;
      }
      return 'keep';
    },
    carriesOutput: (event) => asJson(event).type === 'content_block_delta',
    result: () => ({ model, id, finishReasons: stopReason ? [stopReason] : [], usage: anthropicUsage(usage), complete, errorType }),
  };
}

export function describeAnthropicMessage(input: CallInput): PreparedCall | undefined {
  const body = input.body;
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Json;
  return {
    start: {
      operation: 'chat',
      provider: 'anthropic',
      requestModel: str(b.model),
      ...serverOf(input.client),
      stream: b.stream === true,
      requestAttributes: pickRequestAttributes(body, {
        max_tokens: 'gen_ai.request.max_tokens', temperature: 'gen_ai.request.temperature', top_p: 'gen_ai.request.top_p', top_k: 'gen_ai.request.top_k',
      }),
    },
    body,
    fromResponse: messageResponse,
    newAccumulator: messageStreamAccumulator,
  };
}
