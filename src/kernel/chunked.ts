// A sequence stored as chunks of at most CHUNK elements, so that inserting or removing an
// element costs O(CHUNK + chunks) instead of moving every later element: the VMA list of an
// address space with tens of thousands of VMAs (Linux keeps them in a maple tree for the same
// reason). Indexing costs a binary search over the chunks. Pure.

const CHUNK = 512;

export class ChunkedArray<T> implements Iterable<T> {
  private chunks: T[][] = [];
  /** Index of each chunk's first element. */
  private firsts: number[] = [];
  private n = 0;

  static from<T>(items: readonly T[]): ChunkedArray<T> {
    const c = new ChunkedArray<T>();
    for (let i = 0; i < items.length; i += CHUNK) {
      c.firsts.push(i);
      c.chunks.push(items.slice(i, i + CHUNK));
    }
    c.n = items.length;
    return c;
  }

  get length(): number {
    return this.n;
  }

  /** The chunk holding index i (0 <= i < length). */
  private chunkOf(i: number): number {
    const f = this.firsts;
    let lo = 0;
    let hi = f.length - 1;
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (f[m] <= i) lo = m;
      else hi = m - 1;
    }
    return lo;
  }

  /** The element at i; undefined outside 0..length-1 (typed as an array's index is). */
  get(i: number): T {
    if (i < 0 || i >= this.n) return undefined as T;
    if (this.chunks.length === 1) return this.chunks[0][i];
    const c = this.chunkOf(i);
    return this.chunks[c][i - this.firsts[c]];
  }

  set(i: number, v: T): void {
    if (i < 0 || i >= this.n) throw new RangeError(`ChunkedArray.set: index ${i} of ${this.n}`);
    const c = this.chunks.length === 1 ? 0 : this.chunkOf(i);
    this.chunks[c][i - this.firsts[c]] = v;
  }

  /** Array.prototype.splice: removes `del` elements at `start`, inserts `items` there. */
  splice(start: number, del: number, ...items: T[]): T[] {
    start = Math.min(Math.max(0, start), this.n);
    del = Math.min(Math.max(0, del), this.n - start);
    if (this.chunks.length === 0) {
      this.chunks.push([]);
      this.firsts.push(0);
    }
    const c = start === this.n ? this.chunks.length - 1 : this.chunkOf(start);
    const off = start - this.firsts[c];
    // Remove, chunk by chunk.
    const removed: T[] = [];
    let left = del;
    let k = c;
    let o = off;
    while (left > 0) {
      const take = Math.min(left, this.chunks[k].length - o);
      for (const x of this.chunks[k].splice(o, take)) removed.push(x);
      left -= take;
      k++;
      o = 0;
    }
    // Insert into chunk c at off.
    const chunk = this.chunks[c];
    if (items.length === 1) chunk.splice(off, 0, items[0]);
    else if (items.length > 0) chunk.splice(off, 0, ...items);
    this.n += items.length - del;
    // Drop emptied chunks (keeping one) and split an overfull one; renumber from chunk c on.
    let structural = chunk.length > 2 * CHUNK;
    for (let j = c; j < k && !structural; j++)
      if (this.chunks[j].length === 0) structural = this.chunks.length > 1;
    if (structural) {
      const kept: T[][] = [];
      for (const ch of this.chunks) {
        if (ch.length === 0 && this.chunks.length > 1) continue;
        if (ch.length > 2 * CHUNK)
          for (let s = 0; s < ch.length; s += CHUNK) kept.push(ch.slice(s, s + CHUNK));
        else kept.push(ch);
      }
      this.chunks = kept;
      this.firsts.length = kept.length;
      this.renumber(0);
    } else this.renumber(c);
    return removed;
  }

  private renumber(from: number): void {
    const f = this.firsts;
    let at = from === 0 ? 0 : f[from];
    for (let j = from; j < this.chunks.length; j++) {
      f[j] = at;
      at += this.chunks[j].length;
    }
  }

  /** The elements as one array (a copy). */
  toArray(): T[] {
    const out: T[] = [];
    for (const ch of this.chunks) for (const x of ch) out.push(x);
    return out;
  }

  /** An independent copy (the elements themselves are shared). */
  clone(): ChunkedArray<T> {
    const c = new ChunkedArray<T>();
    c.chunks = this.chunks.map((ch) => ch.slice());
    c.firsts = this.firsts.slice();
    c.n = this.n;
    return c;
  }

  /** Become a copy of `o` (the elements themselves are shared), reusing this one's arrays. */
  copyFrom(o: ChunkedArray<T>): void {
    const m = o.chunks.length;
    for (let i = 0; i < m; i++) {
      const src = o.chunks[i];
      const dst = this.chunks[i];
      if (dst === undefined) {
        this.chunks.push(src.slice());
        continue;
      }
      for (let j = 0; j < src.length; j++) dst[j] = src[j];
      if (dst.length !== src.length) dst.length = src.length;
    }
    if (this.chunks.length !== m) this.chunks.length = m;
    const f = this.firsts;
    for (let i = 0; i < m; i++) f[i] = o.firsts[i];
    if (f.length !== m) f.length = m;
    this.n = o.n;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const ch of this.chunks) yield* ch;
  }
}
