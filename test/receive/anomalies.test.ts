import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anomalyScore, findAnomalies, median, robustBaseline } from '../../src/receive/anomalies.ts';

describe('anomalies: today against a median / MAD baseline with a floor', () => {
  it('takes the median and the median absolute deviation, which a burst or two do not move', () => {
    assert.equal(median([]), 0);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.deepEqual(robustBaseline([10, 12, 11, 9, 10, 500, 10]), { median: 10, mad: 1 });
  });

  it('scores in robust deviations, never dividing by less than the floor', () => {
    assert.equal(anomalyScore(20, { median: 10, mad: 1 }, 0.5), 10 / 1.4826);
    assert.equal(anomalyScore(20, { median: 10, mad: 0 }, 5), 2);
  });

  it('lists a user far above their own history, not a big user at their usual level, a tiny user, or one without 3 days of history', () => {
    const days = (history: number, today: number) => [...Array<number>(14).fill(history), today];
    const found = findAnomalies([
      { userId: 'steady-big', requests: days(1000, 1010), costNanoUsd: days(5e9, 5.1e9) },
      { userId: 'tiny', requests: days(0, 30), costNanoUsd: days(0, 1e6) },
      { userId: 'spiking', requests: days(10, 200), costNanoUsd: days(1e6, 2e7) },
      { userId: 'costly', requests: days(10, 10), costNanoUsd: days(1e7, 9e8) },
      { userId: 'new', requests: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 5, 900], costNanoUsd: days(0, 9e9) },
    ], { threshold: 5, floorRequests: 20, floorCostNanoUsd: 50_000_000, minHistoryDays: 3 });
    assert.deepEqual(found.map((anomaly) => anomaly.userId), ['costly', 'spiking']);
    assert.equal(found[1]!.requestsToday, 200);
    assert.equal(found[1]!.requestsMedian, 10);
    assert.equal(found[1]!.requestsScore, 9.5);
  });
});
