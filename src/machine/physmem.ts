// Physical memory: 4 KiB frames. Page-table frames hold 512 packed PTEs each in one shared
// Float64Array (see pte.ts); data frames hold one 32-bit content word, which stands for the
// page's bytes (enough to detect lost or stale data without 4 KiB per frame).
import { MAX_PFN, PTRS_PER_TABLE } from "./pte.js";

export const FRAME_FREE = 0;
export const FRAME_TABLE = 1;
export const FRAME_DATA = 2;
export const FRAME_ZERO = 3;
export const FRAME_RESERVED = 4;

/** A handle to one PTE slot: table slot * 512 + index. Plays the role of Linux's `pte_t *`. */
export type ptep_t = number;

function grow<T extends Int32Array | Uint8Array | Float64Array>(a: T, n: number, fill: number): T {
  if (n <= a.length) return a;
  let cap = Math.max(a.length * 2, 16);
  while (cap < n) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

export class PhysMem {
  /** Frame kind per PFN (FRAME_*). */
  kind: Uint8Array = new Uint8Array(256);
  /** Content word per data frame. */
  data: Int32Array = new Int32Array(256);
  /** Table slot per PFN, -1 if the frame is not a page table. */
  tableSlot: Int32Array = new Int32Array(256).fill(-1);
  /**
   * Folio order per PFN: 0 for a single-frame folio, else every frame of a naturally aligned
   * 2^order-frame folio holds its order (so page_folio of any frame is pfn & ~(2^order - 1)).
   */
  folioOrder: Uint8Array = new Uint8Array(256);
  /** Large folios allocated and not yet split (0: the state key need not list them). */
  private largeFolios = 0;
  /** PFN per table slot. */
  slotPfn: Int32Array = new Int32Array(8);
  /**
   * All page-table entries: slot * 512 + index. Private (not reachable at run time either):
   * the machine that owns this memory receives it through `grant` (again whenever it is
   * reallocated) and is the only code that touches it; everyone else reads with peek().
   */
  #tables: Float64Array = new Float64Array(8 * PTRS_PER_TABLE);
  readonly #grant: (tables: Float64Array) => void;
  private nextPfn = 1; // PFN 0 is never handed out
  private nextSlot = 0;
  private freeFrames: number[] = [];
  private freeSlots: number[] = [];
  framesInUse = 0;
  /** The shared zero page (read faults on private anonymous memory map it). */
  readonly zeroPfn: number;

  /** `grant` receives the page-table store now and after every reallocation (the owner's only access). */
  constructor(
    readonly maxFrames: number = MAX_PFN + 1,
    grant: (tables: Float64Array) => void = () => {},
  ) {
    this.#grant = grant;
    grant(this.#tables);
    if (!Number.isInteger(maxFrames) || maxFrames < 16 || maxFrames > MAX_PFN + 1)
      throw new RangeError(`maxFrames must be an integer in [16, ${MAX_PFN + 1}]`);
    this.kind[0] = FRAME_RESERVED;
    this.zeroPfn = this.allocFrame(FRAME_ZERO);
  }

  private ensureFrames(n: number): void {
    if (n > this.kind.length) {
      this.kind = grow(this.kind, n, 0);
      this.data = grow(this.data, n, 0);
      this.tableSlot = grow(this.tableSlot, n, -1);
      this.folioOrder = grow(this.folioOrder, n, 0);
    }
  }

  /**
   * The allocator's state in a few numbers (checker state keys: which frame comes next): the
   * next frame and slot, the free lists (each after its length), and with large folios, their
   * heads and orders ascending (after their count).
   */
  allocKeyInto(out: { push(v: number): void }): void {
    out.push(this.nextPfn);
    out.push(this.nextSlot);
    out.push(this.freeFrames.length);
    for (const f of this.freeFrames) out.push(f);
    out.push(this.freeSlots.length);
    for (const f of this.freeSlots) out.push(f);
    out.push(this.largeFolios === 0 ? 0 : 1);
    if (this.largeFolios === 0) return;
    let n = 0;
    for (let pfn = 0; pfn < this.nextPfn; pfn++) {
      const o = this.folioOrder[pfn];
      if (o !== 0 && pfn % 2 ** o === 0) n++;
    }
    out.push(n);
    for (let pfn = 0; pfn < this.nextPfn; pfn++) {
      const o = this.folioOrder[pfn];
      if (o !== 0 && pfn % 2 ** o === 0) {
        out.push(pfn);
        out.push(o);
      }
    }
  }

  /**
   * Allocate a naturally aligned folio of 2^order data frames (folio_alloc for mTHP), zero-filled;
   * its head PFN, or -1 when no aligned run is left (the caller falls back to a smaller order,
   * as alloc_anon_folio does). Frames skipped to reach the alignment go to the free list.
   */
  allocFolio(kind: number, order: number): number {
    if (order === 0) return this.allocFrame(kind);
    const nr = 2 ** order;
    const head = Math.ceil(this.nextPfn / nr) * nr;
    if (head + nr > this.maxFrames) return -1;
    this.ensureFrames(head + nr);
    for (let pfn = this.nextPfn; pfn < head; pfn++) this.freeFrames.push(pfn);
    this.nextPfn = head + nr;
    for (let pfn = head; pfn < head + nr; pfn++) {
      this.kind[pfn] = kind;
      this.data[pfn] = 0;
      this.folioOrder[pfn] = order;
    }
    this.framesInUse += nr;
    this.largeFolios++;
    return head;
  }

  /** folio_nr_pages(page_folio(pfn)): 1 for a single-frame folio. */
  folioNr(pfn: number): number {
    return 2 ** this.folioOrder[pfn];
  }

  /** The first PFN of the folio holding `pfn`. */
  folioHead(pfn: number): number {
    const nr = 2 ** this.folioOrder[pfn];
    return pfn - (pfn % nr);
  }

  /** Allocate a frame (lowest never-used first, then most recently freed), zero-filled. */
  allocFrame(kind: number): number {
    let pfn = this.freeFrames.pop();
    if (pfn === undefined) {
      if (this.nextPfn >= this.maxFrames) throw new OutOfFramesError(this.maxFrames);
      pfn = this.nextPfn++;
      this.ensureFrames(this.nextPfn);
    }
    this.kind[pfn] = kind;
    this.data[pfn] = 0;
    this.framesInUse++;
    return pfn;
  }

  freeFrame(pfn: number): void {
    const k = this.kind[pfn];
    if (k === FRAME_FREE || k === FRAME_RESERVED || k === FRAME_ZERO)
      throw new Error(`freeFrame: pfn 0x${pfn.toString(16)} is not an allocated frame`);
    if (this.folioOrder[pfn] !== 0) {
      // Frames are freed one by one (zap, reclaim): the first frame freed splits its folio, the
      // rest live on as single-frame folios (Linux would split it, or free it when unmapped whole).
      const head = this.folioHead(pfn);
      this.folioOrder.fill(0, head, head + this.folioNr(pfn));
      this.largeFolios--;
    }
    if (k === FRAME_TABLE) {
      const slot = this.tableSlot[pfn];
      this.tableSlot[pfn] = -1;
      this.freeSlots.push(slot);
    }
    this.kind[pfn] = FRAME_FREE;
    this.freeFrames.push(pfn);
    this.framesInUse--;
  }

  /** Allocate a zeroed page-table frame; returns its PFN. */
  allocTable(): number {
    const pfn = this.allocFrame(FRAME_TABLE);
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.nextSlot++;
      this.slotPfn = grow(this.slotPfn, this.nextSlot, 0);
      const t = grow(this.#tables, this.nextSlot * PTRS_PER_TABLE, 0);
      if (t !== this.#tables) {
        this.#tables = t;
        this.#grant(t);
      }
    }
    this.#tables.fill(0, slot * PTRS_PER_TABLE, (slot + 1) * PTRS_PER_TABLE);
    this.tableSlot[pfn] = slot;
    this.slotPfn[slot] = pfn;
    return pfn;
  }

  /** The ptep handle of entry `idx` of the table in frame `pfn`. */
  ptep(pfn: number, idx: number): ptep_t {
    const slot = this.tableSlot[pfn];
    if (slot < 0) throw new Error(`pfn 0x${pfn.toString(16)} is not a page table`);
    return slot * PTRS_PER_TABLE + idx;
  }

  /** The value of a page-table entry, without side effects (oracles, display, checker keys). */
  peek(ptep: ptep_t): number {
    return this.#tables[ptep];
  }

  /** Number of page-table slots ever handed out (slot indices are below it). */
  get tableSlots(): number {
    return this.nextSlot;
  }

  /** The physical (machine) address of a PTE, as Xen's mmu_update `ptr` names it. */
  ptepPhysAddr(ptep: ptep_t): number {
    return this.slotPfn[(ptep / PTRS_PER_TABLE) | 0] * 4096 + (ptep % PTRS_PER_TABLE) * 8;
  }

  /** A copy of the whole state (the checker restarts executions from one). */
  save(): PhysMemState {
    return {
      kind: this.kind.slice(),
      data: this.data.slice(),
      tableSlot: this.tableSlot.slice(),
      folioOrder: this.folioOrder.slice(),
      largeFolios: this.largeFolios,
      slotPfn: this.slotPfn.slice(),
      tables: this.#tables.slice(),
      nextPfn: this.nextPfn,
      nextSlot: this.nextSlot,
      freeFrames: this.freeFrames.slice(),
      freeSlots: this.freeSlots.slice(),
      framesInUse: this.framesInUse,
    };
  }

  /** Return to a saved state, reusing this object's arrays when their sizes still match. */
  restore(s: PhysMemState): void {
    this.kind = copyInto(this.kind, s.kind);
    this.data = copyInto(this.data, s.data);
    this.tableSlot = copyInto(this.tableSlot, s.tableSlot);
    this.folioOrder = copyInto(this.folioOrder, s.folioOrder);
    this.largeFolios = s.largeFolios;
    this.slotPfn = copyInto(this.slotPfn, s.slotPfn);
    // Table slots past the saved nextSlot are zero-filled when allocTable hands them out again:
    // only the slots in use then are copied back (the checker restores before every execution).
    let t = this.#tables;
    if (t.length === s.tables.length) t.set(s.tables.subarray(0, s.nextSlot * PTRS_PER_TABLE));
    else t = s.tables.slice();
    if (t !== this.#tables) {
      this.#tables = t;
      this.#grant(t);
    }
    this.nextPfn = s.nextPfn;
    this.nextSlot = s.nextSlot;
    this.freeFrames = s.freeFrames.slice();
    this.freeSlots = s.freeSlots.slice();
    this.framesInUse = s.framesInUse;
  }

  /** Bytes the simulator holds for this memory (for the benchmark's memory figure). */
  footprintBytes(): number {
    return (
      this.kind.byteLength +
      this.data.byteLength +
      this.tableSlot.byteLength +
      this.folioOrder.byteLength +
      this.slotPfn.byteLength +
      this.#tables.byteLength
    );
  }
}

export interface PhysMemState {
  readonly kind: Uint8Array;
  readonly data: Int32Array;
  readonly tableSlot: Int32Array;
  readonly folioOrder: Uint8Array;
  readonly largeFolios: number;
  readonly slotPfn: Int32Array;
  readonly tables: Float64Array;
  readonly nextPfn: number;
  readonly nextSlot: number;
  readonly freeFrames: readonly number[];
  readonly freeSlots: readonly number[];
  readonly framesInUse: number;
}

/** `src` copied into `dst` if they have the same length, else a fresh copy. */
export function copyInto<T extends Uint8Array | Int32Array | Float64Array | Int16Array>(dst: T, src: T): T {
  if (dst.length === src.length) {
    dst.set(src);
    return dst;
  }
  return src.slice() as T;
}

export class OutOfFramesError extends Error {
  constructor(readonly maxFrames: number) {
    super(`out of physical frames (machine has ${maxFrames})`);
    this.name = "OutOfFramesError";
  }
}
