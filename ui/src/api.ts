// The users API as the page calls it: the token of the sign-in (sessionStorage, this tab only) goes in the
// Authorization header, never in a URL.
const TOKEN_KEY = 'llm-user-metrics.api-token';

export class SignInNeeded extends Error {
  override name = 'SignInNeeded';
}

export class ApiError extends Error {
  override name = 'ApiError';
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string | undefined): void {
  if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export async function apiGet<T>(path: string, signal?: AbortSignal): Promise<T> {
  const token = storedToken();
  const response = await fetch(path, {
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    signal,
    credentials: 'omit',
    cache: 'no-store',
  });
  if (response.status === 401) throw new SignInNeeded(token === undefined ? 'This processor needs its API token.' : 'That token is not the one configured in API_TOKEN.');
  if (!response.ok) {
    const text = await response.text();
    let message = text;
    try { message = (JSON.parse(text) as { error?: string }).error ?? text; } catch { /* plain text */ }
    throw new ApiError(`${path.split('?')[0]} answered ${response.status}: ${message.trim()}`);
  }
  return response.json() as Promise<T>;
}

export interface UserRow {
  readonly userId: string;
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly costUsd: number;
  readonly costNanoUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
  readonly avgLatencyMs: number;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  readonly activeDays: number;
  readonly avgRequestsPerDay: number;
  readonly avgTokensPerRequest: number;
  readonly properties?: Readonly<Record<string, string>>;
}

export interface Sums {
  readonly requests: number;
  readonly errors: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly costUsd: number;
  readonly avgLatencyMs: number;
}

export interface Meta {
  readonly propertyNames: string[];
  readonly planPricesUsd: Record<string, number>;
}

export interface Overview {
  readonly users: number;
  readonly totals: Sums;
  readonly byProperty: Array<Sums & { name: string; value: string; users: number }>;
  readonly values?: Record<string, string[]>;
}

export interface UserDetail {
  readonly user: UserRow;
  readonly daily: Array<Sums & { date: string }>;
  readonly byModel: Array<Sums & { provider: string; model: string }>;
  readonly byProperty: Array<Sums & { name: string; value: string }>;
}

export interface Anomalies {
  readonly today: string;
  readonly baselineDays: number;
  readonly rules: { threshold: number; floorRequests: number; floorCostUsd: number };
  readonly anomalies: Array<{
    userId: string; requestsToday: number; requestsMedian: number; requestsScore: number;
    costUsdToday: number; costUsdMedian: number; costScore: number;
  }>;
}
