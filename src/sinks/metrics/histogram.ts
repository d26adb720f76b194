/** A fixed-bucket histogram: counts per upper bound, plus sum and count, as Prometheus exposes it. */
export class Histogram {
  readonly bounds: readonly number[];
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let index = 0;
    while (index < this.bounds.length && value > this.bounds[index]!) index++;
    this.counts[index]! += 1;
    this.sum += value;
    this.count += 1;
  }

  /** Appends the `_bucket`, `_sum` and `_count` lines for one label set (`labels` without braces, may be ''). */
  render(name: string, labels: string, out: string[]): void {
    const prefix = labels === '' ? '' : `${labels},`;
    let cumulative = 0;
    for (let index = 0; index < this.bounds.length; index++) {
      cumulative += this.counts[index]!;
      out.push(`${name}_bucket{${prefix}le="${this.bounds[index]}"} ${cumulative}`);
    }
    cumulative += this.counts[this.bounds.length]!;
    out.push(`${name}_bucket{${prefix}le="+Inf"} ${cumulative}`);
    const braces = labels === '' ? '' : `{${labels}}`;
    out.push(`${name}_sum${braces} ${this.sum}`);
    out.push(`${name}_count${braces} ${this.count}`);
  }
}
