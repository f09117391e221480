// Sorted, disjoint, half-open address intervals carrying a value, in a ChunkedArray (a change
// costs O(log n + chunk), not a move of every later run). Pure.
import { ChunkedArray } from "../kernel/chunked.js";

export interface Interval<T> {
  start: number;
  end: number;
  value: T;
}

/** A map from addresses to values, stored as maximal runs (adjacent equal values coalesce). */
export class IntervalMap<T> {
  private runs = new ChunkedArray<Interval<T>>();

  constructor(private readonly same: (a: T, b: T) => boolean = (a, b) => a === b) {}

  get empty(): boolean {
    return this.runs.length === 0;
  }

  /** The runs, sorted (copies). */
  intervals(): Interval<T>[] {
    return this.runs.toArray().map((r) => ({ ...r }));
  }

  /** Index of the first run with end > addr. */
  private firstEndAbove(addr: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.runs.get(m).end > addr) hi = m;
      else lo = m + 1;
    }
    return lo;
  }

  /** The value at addr, or undefined. */
  get(addr: number): T | undefined {
    const r = this.runs.get(this.firstEndAbove(addr));
    return r !== undefined && r.start <= addr ? r.value : undefined;
  }

  /** Set [start, end) to value (undefined: remove). */
  set(start: number, end: number, value: T | undefined): void {
    if (end <= start) return;
    const i = this.firstEndAbove(start);
    let j = i;
    const keep: Interval<T>[] = [];
    while (j < this.runs.length && this.runs.get(j).start < end) {
      const r = this.runs.get(j);
      if (r.start < start) keep.push({ start: r.start, end: start, value: r.value });
      if (r.end > end) keep.push({ start: end, end: r.end, value: r.value });
      j++;
    }
    if (value !== undefined) keep.push({ start, end, value });
    keep.sort((a, b) => a.start - b.start);
    this.runs.splice(i, j - i, ...keep);
    // Coalesce around the changed part.
    // Pairs (i - 1, i) .. (i + keep.length - 1, i + keep.length) may now touch.
    let k = Math.max(0, i - 1);
    let limit = i + keep.length;
    while (k < limit && k + 1 < this.runs.length) {
      const a = this.runs.get(k);
      const b = this.runs.get(k + 1);
      if (a.end === b.start && this.same(a.value, b.value)) {
        this.runs.splice(k, 2, { start: a.start, end: b.end, value: a.value });
        limit--;
      } else k++;
    }
  }

  /** The runs within [start, end), clipped. */
  slice(start: number, end: number): Interval<T>[] {
    const out: Interval<T>[] = [];
    for (let i = this.firstEndAbove(start); i < this.runs.length && this.runs.get(i).start < end; i++) {
      const r = this.runs.get(i);
      out.push({ start: Math.max(r.start, start), end: Math.min(r.end, end), value: r.value });
    }
    return out;
  }

  /** The parts of [start, end) that no run covers. */
  gaps(start: number, end: number): { start: number; end: number }[] {
    const out: { start: number; end: number }[] = [];
    let at = start;
    for (const r of this.slice(start, end)) {
      if (r.start > at) out.push({ start: at, end: r.start });
      at = r.end;
    }
    if (at < end) out.push({ start: at, end });
    return out;
  }
}
