import { randomBytes } from 'node:crypto';

/** One OTLP/JSON chat span for the given user (undefined: none) ending at `endMs`. */
export interface CallSpec {
  readonly user: string | undefined;
  readonly endMs: number;
  readonly model?: string;
  readonly input?: number;
  readonly output?: number;
  readonly properties?: Readonly<Record<string, string>>;
  readonly error?: boolean;
  readonly spanId?: string;
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

export function chatSpan(spec: CallSpec) {
  const end = BigInt(spec.endMs) * 1_000_000n;
  const model = spec.model ?? 'gpt-4o-mini';
  const attributes: Record<string, unknown> = {
    'gen_ai.operation.name': { stringValue: 'chat' },
    'gen_ai.provider.name': { stringValue: 'openai' },
    'gen_ai.request.model': { stringValue: model },
    'gen_ai.response.model': { stringValue: model },
    'gen_ai.usage.input_tokens': { intValue: String(spec.input ?? 1000) },
    'gen_ai.usage.output_tokens': { intValue: String(spec.output ?? 500) },
  };
  if (spec.user !== undefined) attributes['user.id'] = { stringValue: spec.user };
  for (const [name, value] of Object.entries(spec.properties ?? {})) {
    attributes[`llm_user_metrics.property.${name}`] = { stringValue: value };
  }
  return {
    traceId: randomBytes(16).toString('hex'),
    spanId: spec.spanId ?? newSpanId(),
    name: `chat ${model}`,
    kind: 3,
    startTimeUnixNano: String(end - 700_000_000n),
    endTimeUnixNano: String(end),
    attributes: Object.entries(attributes).map(([key, value]) => ({ key, value })),
    status: spec.error ? { code: 2, message: 'rate limited' } : {},
  };
}

export function exportBody(calls: readonly CallSpec[]): string {
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'ledger-test' }, spans: calls.map(chatSpan) }] }],
  });
}

export async function postExport(url: string, body: string | Uint8Array, contentType = 'application/json'): Promise<Response> {
  return fetch(`${url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': contentType } });
}

/** Per-user sums of the per-user families on /metrics, keyed by the user_id label value. */
export interface MetricsUser {
  requests: number;
  errors: number;
  costNanoUsd: number;
  /** The printed cost values, one per series. */
  costTexts: string[];
  tokens: Record<string, number>;
  durationCount: number;
}

const LINE = /^(llm_requests_total|llm_cost_usd_total|llm_tokens_total|llm_user_request_duration_seconds_count)\{user_id="((?:[^"\\]|\\.)*)"(.*)\} (\S+)$/;

export function metricsByUser(text: string): Map<string, MetricsUser> {
  const users = new Map<string, MetricsUser>();
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue;
    const [, family, escaped, rest, value] = match as unknown as [string, string, string, string, string];
    const userId = escaped.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
    let user = users.get(userId);
    if (!user) {
      user = { requests: 0, errors: 0, costNanoUsd: 0, costTexts: [], tokens: {}, durationCount: 0 };
      users.set(userId, user);
    }
    const number = Number(value);
    if (family === 'llm_requests_total') {
      user.requests += number;
      if (rest.includes('status="error"')) user.errors += number;
    } else if (family === 'llm_cost_usd_total') {
      user.costNanoUsd += Math.round(number * 1e9);
      user.costTexts.push(value);
    } else if (family === 'llm_tokens_total') {
      const type = /type="([a-z_]+)"/.exec(rest)![1]!;
      user.tokens[type] = (user.tokens[type] ?? 0) + number;
    } else {
      user.durationCount += number;
    }
  }
  return users;
}

/** RFC 4180 rows (quoted fields may hold commas, doubled quotes, CR and LF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') { field += '"'; index++; }
      else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') { row.push(field); field = ''; }
    else if (char === '\r' && text[index + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; index++; }
    else field += char;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}
