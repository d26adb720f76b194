import { NANO_USD_PER_USD, type PricedUsage } from '../../pricing/priced-usage.ts';
import { Histogram } from './histogram.ts';
import { labelPair, userLabelValue, type UserLabelPolicy } from './label-text.ts';

/** user_id of calls whose span names no user. */
export const NO_USER_ID = '__no_user__';
/** user_id that new users fold into once MAX_USERS users have live series. */
export const OVERFLOW_USER_ID = '__overflow__';

export const DURATION_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];
export const TTFT_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];
/** Distinct provider/model pairs kept in the unpriced counter before the rest fold into model="__other__". */
const MAX_UNPRICED_SERIES = 1000;

export interface UsageMetricsOptions {
  readonly propertyLabels: readonly string[];
  readonly maxUsers: number;
  readonly userTtlSeconds: number;
  readonly userLabel: UserLabelPolicy;
  readonly planPricesUsd: Readonly<Record<string, number>>;
}

/** Everything kept for one user; series keys are the label text after `user_id="..."`. */
interface UserEntry {
  /** `user_id="..."`, escaped, ready to render. */
  readonly userLabels: string;
  lastActivityMs: number;
  readonly requests: Map<string, number>;
  readonly costNanoUsd: Map<string, number>;
  readonly tokens: Map<string, number>;
  readonly latency: Map<string, { sum: number; count: number }>;
  readonly seen: Map<string, { first: number; last: number }>;
}

const TOKEN_TYPES = ['input', 'output', 'cache_read', 'cache_write'] as const;

/**
 * The per-user Prometheus families, kept in plain maps with pre-rendered label text. prom-client renders 10,000
 * users in ~620 ms (shared/performance-facts.md); this renders the same in a fraction of that, and keeps money as
 * integer nano-dollars so that the exposed USD never drifts from the sum of the priced calls.
 */
export class UsageMetrics {
  private readonly options: UsageMetricsOptions;
  private readonly users = new Map<string, UserEntry>();
  private readonly durations = new Map<string, Histogram>();
  private readonly timesToFirstToken = new Map<string, Histogram>();
  private readonly unpriced = new Map<string, number>();
  private readonly modelLabelCache = new Map<string, string>();
  private overflowRequests = 0;
  private evictedUsers = 0;

  constructor(options: UsageMetricsOptions) {
    this.options = options;
  }

  get activeUsers(): number {
    return this.users.size;
  }

  record(usage: PricedUsage, nowMs: number = Date.now()): void {
    const user = this.userEntry(usage.userId ?? NO_USER_ID, nowMs);
    user.lastActivityMs = nowMs;
    const modelLabels = this.modelLabels(usage.provider, usage.model);
    const propertyLabels = this.propertyLabels(usage.properties);
    const status = usage.isError ? 'error' : 'ok';

    increment(user.requests, `${modelLabels}${labelPair('operation', usage.operation)},status="${status}"${propertyLabels}`, 1);
    const perModel = modelLabels + propertyLabels;
    increment(user.costNanoUsd, perModel, usage.costNanoUsd);
    const { tokens } = usage;
    const counts = [tokens.input, tokens.output, tokens.cacheRead, tokens.cacheWrite];
    for (let index = 0; index < TOKEN_TYPES.length; index++) {
      increment(user.tokens, `${modelLabels},type="${TOKEN_TYPES[index]}"${propertyLabels}`, counts[index]!);
    }
    const latency = user.latency.get(perModel);
    if (latency) {
      latency.sum += usage.durationSeconds;
      latency.count += 1;
    } else {
      user.latency.set(perModel, { sum: usage.durationSeconds, count: 1 });
    }
    const seenAt = usage.endTimeMs / 1000;
    const seen = user.seen.get(propertyLabels);
    if (seen) {
      if (seenAt < seen.first) seen.first = seenAt;
      if (seenAt > seen.last) seen.last = seenAt;
    } else {
      user.seen.set(propertyLabels, { first: seenAt, last: seenAt });
    }

    const histogramLabels = `${modelLabels.slice(1)}${labelPair('operation', usage.operation)}${propertyLabels}`;
    observe(this.durations, histogramLabels, DURATION_BUCKETS_SECONDS, usage.durationSeconds);
    if (usage.timeToFirstTokenSeconds !== undefined) {
      observe(this.timesToFirstToken, modelLabels.slice(1) + propertyLabels, TTFT_BUCKETS_SECONDS, usage.timeToFirstTokenSeconds);
    }
    if (!usage.priced) {
      const key = this.unpriced.size < MAX_UNPRICED_SERIES || this.unpriced.has(modelLabels)
        ? modelLabels
        : this.modelLabels(usage.provider, '__other__');
      increment(this.unpriced, key, 1);
    }
  }

  /** Removes the series of users idle for longer than the TTL; Prometheus keeps what it already scraped. */
  evictIdleUsers(nowMs: number = Date.now()): number {
    const cutoff = nowMs - this.options.userTtlSeconds * 1000;
    let evicted = 0;
    for (const [userId, entry] of this.users) {
      if (entry.lastActivityMs < cutoff) {
        this.users.delete(userId);
        evicted++;
      }
    }
    this.evictedUsers += evicted;
    return evicted;
  }

  /** Appends the exposition text of every family to `out`, one line per element. */
  render(out: string[]): void {
    const users = [...this.users.values()];
    family(out, 'llm_requests_total', 'counter', 'LLM calls per user, provider, model, operation and status (ok|error).');
    for (const user of users) series(out, 'llm_requests_total', user.userLabels, user.requests, 1);
    family(out, 'llm_cost_usd_total', 'counter', 'Cost of LLM calls in USD, per user, provider and model.');
    for (const user of users) series(out, 'llm_cost_usd_total', user.userLabels, user.costNanoUsd, NANO_USD_PER_USD);
    family(out, 'llm_tokens_total', 'counter',
      'Tokens per user, provider, model and type; types are disjoint (input excludes cache tokens, output includes reasoning).');
    for (const user of users) series(out, 'llm_tokens_total', user.userLabels, user.tokens, 1);

    family(out, 'llm_user_request_duration_seconds', 'summary', 'Duration of LLM calls per user, provider and model.');
    for (const user of users) {
      for (const [key, latency] of user.latency) {
        out.push(`llm_user_request_duration_seconds_sum{${user.userLabels}${key}} ${latency.sum}`);
        out.push(`llm_user_request_duration_seconds_count{${user.userLabels}${key}} ${latency.count}`);
      }
    }
    family(out, 'llm_user_first_seen_timestamp_seconds', 'gauge', 'When the user was first seen (end of their first LLM call), Unix seconds.');
    for (const user of users) {
      for (const [key, seen] of user.seen) out.push(`llm_user_first_seen_timestamp_seconds{${user.userLabels}${key}} ${seen.first}`);
    }
    family(out, 'llm_user_last_seen_timestamp_seconds', 'gauge', 'When the user was last seen (end of their latest LLM call), Unix seconds.');
    for (const user of users) {
      for (const [key, seen] of user.seen) out.push(`llm_user_last_seen_timestamp_seconds{${user.userLabels}${key}} ${seen.last}`);
    }

    family(out, 'llm_request_duration_seconds', 'histogram', 'Duration of LLM calls per provider, model and operation.');
    for (const [labels, histogram] of this.durations) histogram.render('llm_request_duration_seconds', labels, out);
    family(out, 'llm_time_to_first_token_seconds', 'histogram', 'Time to the first token of streamed LLM calls per provider and model.');
    for (const [labels, histogram] of this.timesToFirstToken) histogram.render('llm_time_to_first_token_seconds', labels, out);

    family(out, 'llm_unpriced_requests_total', 'counter', 'LLM calls whose model has no known price (counted at cost 0).');
    for (const [labels, count] of this.unpriced) out.push(`llm_unpriced_requests_total{${labels.slice(1)}} ${count}`);

    family(out, 'llm_plan_monthly_price_usd', 'gauge', 'Monthly price of each plan (PLAN_PRICES_USD), for revenue minus cost per user.');
    for (const [plan, price] of Object.entries(this.options.planPricesUsd)) {
      out.push(`llm_plan_monthly_price_usd{${labelPair('plan', plan).slice(1)}} ${price}`);
    }
    family(out, 'llm_active_users', 'gauge', 'Users with live series (seen within USER_TTL_SECONDS).');
    out.push(`llm_active_users ${this.users.size}`);
    family(out, 'llm_user_overflow_requests_total', 'counter',
      `LLM calls of new users counted under user_id="${OVERFLOW_USER_ID}" because MAX_USERS users had live series.`);
    out.push(`llm_user_overflow_requests_total ${this.overflowRequests}`);
    family(out, 'llm_user_series_evicted_total', 'counter', 'Users whose series were removed after USER_TTL_SECONDS idle.');
    out.push(`llm_user_series_evicted_total ${this.evictedUsers}`);
  }

  private userEntry(userId: string, nowMs: number): UserEntry {
    const existing = this.users.get(userId);
    if (existing) return existing;
    if (this.users.size >= this.options.maxUsers && userId !== OVERFLOW_USER_ID) {
      this.overflowRequests++;
      return this.userEntry(OVERFLOW_USER_ID, nowMs);
    }
    const special = userId === NO_USER_ID || userId === OVERFLOW_USER_ID;
    const labelValue = special ? userId : userLabelValue(userId, this.options.userLabel);
    const entry: UserEntry = {
      userLabels: labelPair('user_id', labelValue).slice(1),
      lastActivityMs: nowMs,
      requests: new Map(),
      costNanoUsd: new Map(),
      tokens: new Map(),
      latency: new Map(),
      seen: new Map(),
    };
    this.users.set(userId, entry);
    return entry;
  }

  private modelLabels(provider: string, model: string): string {
    const cacheKey = `${provider}\u0000${model}`;
    let labels = this.modelLabelCache.get(cacheKey);
    if (labels === undefined) {
      if (this.modelLabelCache.size > 10_000) this.modelLabelCache.clear();
      labels = labelPair('provider', provider) + labelPair('model', model);
      this.modelLabelCache.set(cacheKey, labels);
    }
    return labels;
  }

  private propertyLabels(properties: Readonly<Record<string, string>>): string {
    let labels = '';
    for (const name of this.options.propertyLabels) labels += labelPair(name, properties[name] ?? '');
    return labels;
  }
}

function increment(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function observe(map: Map<string, Histogram>, key: string, bounds: readonly number[], value: number): void {
  let histogram = map.get(key);
  if (!histogram) {
    histogram = new Histogram(bounds);
    map.set(key, histogram);
  }
  histogram.observe(value);
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function series(out: string[], name: string, userLabels: string, values: Map<string, number>, divisor: number): void {
  for (const [key, value] of values) out.push(`${name}{${userLabels}${key}} ${divisor === 1 ? value : value / divisor}`);
}
