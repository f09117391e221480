// How far the kernel's page-table metadata has to come from: a reuse-distance model of the cache
// lines mprotect's walk touches. Pure (no node: imports).
//
// The real kernel's cost per PTE is flat while the lines a call touches (its PTEs, eight to a
// 64-byte line, and the struct page of each present PTE's frame: vm_normal_folio and
// can_change_pte_writable read it) stay in the caches between calls, and rises once they do not:
// on the project machine ~150 cycles per PTE up to 32,768 pages (2.25 MiB of such lines), then
// more, and ~400 cycles per PTE when every line comes from memory (calibrate's cold probe).
//
// So each line touch is classified by its reuse distance: how many lines this model saw touched
// since that line's previous touch (never touched: farther than any tier). A cache of C lines
// with LRU replacement misses exactly the touches whose distance exceeds C; real caches
// (several levels, shared with other work, non-LRU, prefetching) miss a growing share of them as
// the distance grows. The model counts, per tier T of LINE_TIERS_MIB, the touches farther than T
// (counter cache_beyond_<T>m): a miss-ratio curve in steps, each step's cost a weight of the cost
// table, fitted (non-negative) by `ptesim calibrate`. Nothing here depends on the size of a call,
// only on the lines touched and their order.
//
// Distances are counted in touches, not distinct lines (the two agree for a walk that touches
// each line once per pass, as mprotect's does), modulo 2^32 touches. Only the lines of mprotect's walk are tracked:
// user data, hardware walks and the other kernel paths are not (what they evict from the real
// caches shows in the fitted weights, e.g. a machine busy with other work).

/** Tier boundaries, MiB of 64-byte lines (touchRange spells them out as line counts). */
export const LINE_TIERS_MIB = [1, 2, 4, 8, 16, 32] as const;
export const LINES_PER_MIB = (1 << 20) / 64;
/** Number of tiers (counters cache_beyond_1m ... cache_beyond_32m, consecutive in COUNTERS). */
export const NTIERS = LINE_TIERS_MIB.length;

export class LineReuse {
  /** Line touches so far, modulo 2^32 (the stamp of the latest touch; 0 is never a stamp). */
  private clock = 0;
  /** Per PTE line (ptep >> 3): the clock at its latest touch, 0 if never. */
  private pteStamp: Uint32Array = new Uint32Array(0);
  /** Per frame (its struct page line): the clock at its latest touch, 0 if never. */
  private pageStamp: Uint32Array = new Uint32Array(0);
  /** Touches by the number of tiers they are beyond (0..NTIERS), not yet taken by `take`. */
  private readonly hist = new Float64Array(NTIERS + 1);

  /**
   * The walk over `count` PTE slots from `ptep0` of the table store `t`: each PTE line once, and
   * the struct page of each present entry's frame.
   */
  // Written for V8 (docs/PERFORMANCE.md): 32-bit stamps, and the tier of each touch (the number
  // of tiers it is beyond: floor(log2) of its distance) counted by runs in registers, since
  // successive touches of a walk mostly share one tier.
  touchRange(
    t: Float64Array,
    ptep0: number,
    count: number,
    present: (v: number) => boolean,
    pfnOf: (v: number) => number,
  ): void {
    const needLines = ((ptep0 + count) >> 3) + 1;
    if (this.pteStamp.length < needLines) this.pteStamp = grow(this.pteStamp, needLines);
    const pteStamp = this.pteStamp;
    let pageStamp = this.pageStamp;
    const hist = this.hist;
    let clock = this.clock;
    let runTier = 0;
    let run = 0;
    let lastLine = -1;
    for (let i = 0; i < count; i++) {
      const p = ptep0 + i;
      const line = p >> 3;
      if (line !== lastLine) {
        lastLine = line;
        const s = pteStamp[line];
        clock = (clock + 1) >>> 0 || 1;
        pteStamp[line] = clock;
        const k = tierOf(s, clock);
        if (k !== runTier) {
          hist[runTier] += run;
          runTier = k;
          run = 0;
        }
        run++;
      }
      const v = t[p];
      if (!present(v)) continue;
      const pfn = pfnOf(v);
      if (pfn >= pageStamp.length) {
        this.pageStamp = grow(pageStamp, pfn + 1);
        pageStamp = this.pageStamp;
      }
      const s = pageStamp[pfn];
      clock = (clock + 1) >>> 0 || 1;
      pageStamp[pfn] = clock;
      const k = tierOf(s, clock);
      if (k !== runTier) {
        hist[runTier] += run;
        runTier = k;
        run = 0;
      }
      run++;
    }
    hist[runTier] += run;
    this.clock = clock;
  }

  /** Calls `add(tier, n)` for each tier with touches beyond it since the last take, and clears them. */
  take(add: (tier: number, n: number) => void): void {
    const h = this.hist;
    let beyond = 0;
    for (let k = NTIERS; k >= 1; k--) {
      beyond += h[k];
      if (beyond !== 0) add(k - 1, beyond);
    }
    h.fill(0);
  }

  /** Every line leaves the model's cache (as after reading more memory than the caches hold). */
  evictAll(): void {
    this.pteStamp.fill(0);
    this.pageStamp.fill(0);
  }
}

/**
 * The number of tiers a touch at `clock` of a line last touched at `stamp` is beyond: its
 * distance (lines touched in between; never touched: beyond every tier) past 16,384 << k lines.
 */
function tierOf(stamp: number, clock: number): number {
  const d = stamp === 0 ? 0xffffffff : (clock - stamp - 1) >>> 0;
  return d > 16384 ? (d > 524288 ? 6 : 18 - Math.clz32(d - 1)) : 0;
}

function grow(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(Math.max(n, a.length * 2, 1024));
  b.set(a);
  return b;
}
