import type { DailyActivity } from '../sinks/ledger/ledger.ts';

/** Scales a median absolute deviation to a standard deviation's size for normally spread data. */
const MAD_TO_SIGMA = 1.4826;

export interface AnomalyRules {
  /** How many robust deviations above the baseline's median today must be. */
  readonly threshold: number;
  /** The smallest deviation a baseline is given, so a flat or empty history does not make any call an anomaly. */
  readonly floorRequests: number;
  readonly floorCostNanoUsd: number;
  /** Days with calls a user needs before today to have a baseline at all (a new user is new, not anomalous). */
  readonly minHistoryDays: number;
}

/** A user with little history needs 5 x 20 requests or 5 x $0.05 above their median before they are listed. */
export const DEFAULT_ANOMALY_RULES: AnomalyRules = { threshold: 5, floorRequests: 20, floorCostNanoUsd: 50_000_000, minHistoryDays: 3 };

export interface Baseline {
  readonly median: number;
  readonly mad: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Median and median absolute deviation: a day or two of bursts in the history does not move them. */
export function robustBaseline(values: readonly number[]): Baseline {
  const center = median(values);
  return { median: center, mad: median(values.map((value) => Math.abs(value - center))) };
}

/** How far `today` lies above the baseline, in robust deviations, the deviation never below `floor`. */
export function anomalyScore(today: number, baseline: Baseline, floor: number): number {
  return (today - baseline.median) / Math.max(MAD_TO_SIGMA * baseline.mad, floor);
}

export interface Anomaly {
  readonly userId: string;
  readonly requestsToday: number;
  readonly requestsMedian: number;
  readonly requestsScore: number;
  readonly costNanoUsdToday: number;
  readonly costNanoUsdMedian: number;
  readonly costScore: number;
}

/**
 * Users whose requests or cost on the last day of their activity series is far above the days before it (the
 * baseline); highest score first. Each series' last entry is "today", the others the baseline.
 */
export function findAnomalies(activity: readonly DailyActivity[], rules: AnomalyRules = DEFAULT_ANOMALY_RULES): Anomaly[] {
  const found: Anomaly[] = [];
  for (const user of activity) {
    const days = user.requests.length;
    if (user.requests.slice(0, days - 1).filter((requests) => requests > 0).length < rules.minHistoryDays) continue;
    const requestsBaseline = robustBaseline(user.requests.slice(0, days - 1));
    const costBaseline = robustBaseline(user.costNanoUsd.slice(0, days - 1));
    const requestsToday = user.requests[days - 1]!;
    const costToday = user.costNanoUsd[days - 1]!;
    const requestsScore = anomalyScore(requestsToday, requestsBaseline, rules.floorRequests);
    const costScore = anomalyScore(costToday, costBaseline, rules.floorCostNanoUsd);
    if (requestsScore < rules.threshold && costScore < rules.threshold) continue;
    found.push({
      userId: user.userId,
      requestsToday, requestsMedian: requestsBaseline.median, requestsScore: round2(requestsScore),
      costNanoUsdToday: costToday, costNanoUsdMedian: costBaseline.median, costScore: round2(costScore),
    });
  }
  return found.sort((a, b) => Math.max(b.requestsScore, b.costScore) - Math.max(a.requestsScore, a.costScore) || (a.userId < b.userId ? -1 : 1));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
