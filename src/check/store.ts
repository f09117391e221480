// Visited-state storage for the checker. A state key comes as the numbers of a KeyBuffer
// (src/sim/key-buffer.ts), which gives both its 64-bit fingerprint and its exact text.
//
//   fingerprint  each state key is hashed to 64 bits and only the hash is kept (SPIN's hash
//                compaction): 8 bytes of hash plus 4 bytes of payload per slot, in flat typed
//                arrays at most half full, so about 24 bytes per state whatever the key's length.
//                Two distinct states with the same hash would make the search skip the second:
//                the chance of that happening at all is printed with every result
//                (collisionProbability).
//   exact        the keys' texts in a Map: no collision is possible; memory grows with the
//                key's length (about a hundred bytes per state and more).
//
// Each entry carries a 32-bit payload: the partial-order reduction's sleep set at the state's
// first visit (a bitmask of agents), so a later visit with a smaller sleep set can explore what
// the first one skipped.

import type { KeyBuffer } from "../sim/key-buffer.js";

export type StateStorage = "fingerprint" | "exact";

export interface VisitedStore {
  readonly storage: StateStorage;
  /** Number of stored states. */
  readonly size: number;
  /**
   * Look the state in `key` up. Absent: store it with `payload` and return -1. Present: return
   * its payload and replace it by (payload & the stored one), in one atomic step where the
   * store is shared.
   */
  visit(key: KeyBuffer, payload: number): number;
  /** Approximate bytes held by the store's own structures. */
  bytes(): number;
  /** Chance that two distinct stored states share an entry (0 for exact storage). */
  collisionProbability(): number;
}

/** 2^-64: two distinct keys' 64-bit fingerprints are taken as independent and uniform. */
const TWO_POW_64 = 2 ** 64;

/**
 * Probability that some two of `n` distinct states share a 64-bit fingerprint (birthday bound,
 * n(n-1)/2 / 2^64; exact enough while it is small, and capped at 1).
 */
export function fingerprintCollisionProbability(n: number): number {
  return Math.min(1, (n * (n - 1)) / 2 / TWO_POW_64);
}

/** Open addressing over (hi, lo, payload) triples; (0, 0) marks an empty slot. */
export class FingerprintStore implements VisitedStore {
  readonly storage = "fingerprint";
  private table: Uint32Array;
  private mask: number;
  private count = 0;
  private readonly fp = new Uint32Array(2);
  /**
   * When not null, every fingerprint added is appended as (hi, lo): what one shard added to a
   * store kept across the shards of a check (../check/shards.ts ShardStore).
   */
  added: number[] | null = null;

  constructor(initialSlots = 1 << 12) {
    let n = 1;
    while (n < initialSlots) n <<= 1;
    this.table = new Uint32Array(n * 3);
    this.mask = n - 1;
  }

  get size(): number {
    return this.count;
  }

  private slotOf(hi: number, lo: number): number {
    const t = this.table;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const h = t[i * 3];
      const l = t[i * 3 + 1];
      if ((h === hi && l === lo) || (h === 0 && l === 0)) return i;
      i = (i + 1) & this.mask;
    }
  }

  private hash(key: KeyBuffer): void {
    key.fingerprint(this.fp);
    // (0, 0) is the empty marker: move that one fingerprint aside.
    if (this.fp[0] === 0 && this.fp[1] === 0) this.fp[1] = 1;
  }

  visit(key: KeyBuffer, payload: number): number {
    this.hash(key);
    const i = this.slotOf(this.fp[0], this.fp[1]);
    const t = this.table;
    if (t[i * 3] !== 0 || t[i * 3 + 1] !== 0) {
      const old = t[i * 3 + 2];
      t[i * 3 + 2] = old & payload;
      return old;
    }
    return this.getOrAddFp(this.fp[0], this.fp[1], payload);
  }

  /** The same for a fingerprint already computed (merging stores from workers). */
  getOrAddFp(hi: number, lo: number, payload: number): number {
    const i = this.slotOf(hi, lo);
    const t = this.table;
    if (t[i * 3] !== 0 || t[i * 3 + 1] !== 0) return t[i * 3 + 2];
    t[i * 3] = hi;
    t[i * 3 + 1] = lo;
    t[i * 3 + 2] = payload >>> 0;
    this.added?.push(hi, lo);
    if (++this.count * 2 > this.mask + 1) this.grow();
    return -1;
  }

  /** The payload stored with a fingerprint, or -1 if absent (nothing changes). */
  payloadOfFp(hi: number, lo: number): number {
    const i = this.slotOf(hi, lo);
    const t = this.table;
    return t[i * 3] !== 0 || t[i * 3 + 1] !== 0 ? t[i * 3 + 2] : -1;
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    for (let j = 0; j < old.length; j += 3) {
      if (old[j] === 0 && old[j + 1] === 0) continue;
      const i = this.slotOf(old[j], old[j + 1]);
      this.table[i * 3] = old[j];
      this.table[i * 3 + 1] = old[j + 1];
      this.table[i * 3 + 2] = old[j + 2];
    }
  }

  /** The stored fingerprints, as (hi, lo) pairs (to merge workers' stores). */
  fingerprints(): Uint32Array {
    const out = new Uint32Array(this.count * 2);
    const t = this.table;
    let k = 0;
    for (let j = 0; j < t.length; j += 3)
      if (t[j] !== 0 || t[j + 1] !== 0) {
        out[k++] = t[j];
        out[k++] = t[j + 1];
      }
    return out;
  }

  /** Every entry as (hi, lo, payload) triples (to seed a shared store). */
  entries(): Uint32Array {
    const out = new Uint32Array(this.count * 3);
    const t = this.table;
    let k = 0;
    for (let j = 0; j < t.length; j += 3)
      if (t[j] !== 0 || t[j + 1] !== 0) {
        out[k++] = t[j];
        out[k++] = t[j + 1];
        out[k++] = t[j + 2];
      }
    return out;
  }

  bytes(): number {
    return this.table.byteLength;
  }

  collisionProbability(): number {
    return fingerprintCollisionProbability(this.count);
  }
}

/** The keys' texts: exact, larger. */
export class ExactStore implements VisitedStore {
  readonly storage = "exact";
  private readonly map = new Map<string, number>();
  private keyChars = 0;
  /** When not null, every key added is appended (as FingerprintStore.added). */
  added: string[] | null = null;

  get size(): number {
    return this.map.size;
  }

  visit(key: KeyBuffer, payload: number): number {
    return this.visitText(key.text(), payload);
  }

  /** The same for a key's text (KeyBuffer.text; merging stores from other processes). */
  visitText(key: string, payload: number): number {
    const p = this.map.get(key);
    if (p !== undefined) {
      this.map.set(key, (p & payload) >>> 0);
      return p;
    }
    this.map.set(key, payload >>> 0);
    this.keyChars += key.length;
    this.added?.push(key);
    return -1;
  }

  /** The payload stored with a key's text, or -1 if absent. */
  payloadOf(key: string): number {
    return this.map.get(key) ?? -1;
  }

  /** The stored keys' texts (to merge workers' stores). */
  keys(): string[] {
    return [...this.map.keys()];
  }

  /** Keys are one-byte strings in V8 (ASCII) plus ~16 bytes of header; the Map ~ 3 words an entry. */
  bytes(): number {
    return this.keyChars + this.map.size * (16 + 24);
  }

  collisionProbability(): number {
    return 0;
  }
}

/**
 * Fingerprints in a SharedArrayBuffer, shared by worker threads: a state any worker has stored
 * is cut by every other (that worker explores it), so threads split the work without repeating
 * it. Fixed capacity (open addressing cannot grow under concurrent writers without a lock):
 * when it is 7/8 full, visit throws StoreFull. 12 bytes a slot.
 * Each slot: a 64-bit fingerprint (claimed with one compare-exchange, 0 = empty) and a 32-bit
 * payload kept complemented: sleep sets are below 2^31, so a written ~payload has bit 31 set and
 * is never 0, and 0 (the buffer's initial contents: no fill, no page touched before use) means
 * "claimed, payload not written yet". The intersection of sleep sets is the union (OR) of their
 * complements.
 */
export class SharedFingerprintStore implements VisitedStore {
  readonly storage = "fingerprint";
  private readonly keys: BigInt64Array;
  /** The same slots as 32-bit halves (LOW, HIGH: their index within a slot). */
  private readonly halves: Int32Array;
  private readonly payloads: Int32Array;
  private readonly counter: Int32Array;
  private readonly mask: number;
  private readonly limit: number;
  private readonly fp = new Uint32Array(2);

  /** A new store of `slots` (rounded up to a power of two) slots, or a view of an existing one. */
  constructor(from: number | SharedArrayBuffer) {
    let buf: SharedArrayBuffer;
    if (typeof from === "number") {
      let n = 1;
      while (n < from) n <<= 1;
      buf = new SharedArrayBuffer(n * 12 + 8);
    } else buf = from;
    const n = (buf.byteLength - 8) / 12;
    this.keys = new BigInt64Array(buf, 0, n);
    this.halves = new Int32Array(buf, 0, 2 * n);
    this.payloads = new Int32Array(buf, n * 8, n);
    this.counter = new Int32Array(buf, n * 12, 2);
    this.mask = n - 1;
    this.limit = n - (n >> 3);
  }

  get buffer(): SharedArrayBuffer {
    return this.keys.buffer as SharedArrayBuffer;
  }

  get size(): number {
    return Atomics.load(this.counter, 0);
  }

  visit(key: KeyBuffer, payload: number): number {
    key.fingerprint(this.fp);
    return this.visitFp(this.fp[0], this.fp[1], payload);
  }

  visitFp(hi: number, lo: number, payload: number): number {
    // (0, 0) is the empty marker: that one fingerprint is (0, 1), as in FingerprintStore.
    if (hi === 0 && lo === 0) lo = 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    // Most probes meet a slot already holding a fingerprint: read it as two 32-bit halves (no
    // BigInt). A slot goes from 0 to its fingerprint in one 64-bit write and never changes
    // again, so two non-zero halves are that fingerprint's; a zero half (an empty slot, one
    // being claimed, or a fingerprint with a zero half) goes the 64-bit way.
    const h = this.halves;
    const lo32 = lo | 0;
    const hi32 = hi | 0;
    let fp = 0n;
    for (;;) {
      const a = Atomics.load(h, 2 * i + LOW);
      const b = Atomics.load(h, 2 * i + HIGH);
      if (a !== 0 && b !== 0) {
        if (a === lo32 && b === hi32) return this.revisit(i, payload);
        i = (i + 1) & this.mask;
        continue;
      }
      if (fp === 0n) fp = BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
      let cur = Atomics.load(this.keys, i);
      if (cur === 0n) {
        if (Atomics.load(this.counter, 0) >= this.limit) throw new StoreFull(this.mask + 1);
        cur = Atomics.compareExchange(this.keys, i, 0n, fp);
        if (cur === 0n) {
          Atomics.store(this.payloads, i, ~payload);
          Atomics.add(this.counter, 0, 1);
          return -1;
        }
      }
      if (cur === fp) return this.revisit(i, payload);
      i = (i + 1) & this.mask;
    }
  }

  /** Slot `i` holds the state: its payload, and the intersection with `payload` stored. */
  private revisit(i: number, payload: number): number {
    while (Atomics.load(this.payloads, i) === PENDING) {}
    return ~Atomics.or(this.payloads, i, ~payload);
  }

  /** The stored fingerprints, as (hi, lo) pairs. */
  fingerprints(): Uint32Array {
    const out = new Uint32Array(this.size * 2);
    let j = 0;
    for (let i = 0; i < this.keys.length && j < out.length; i++) {
      const v = this.keys[i];
      if (v === 0n) continue;
      const u = BigInt.asUintN(64, v);
      out[j++] = Number(u >> 32n);
      out[j++] = Number(u & 0xffffffffn);
    }
    return out;
  }

  bytes(): number {
    return this.keys.byteLength + this.payloads.byteLength;
  }

  collisionProbability(): number {
    return fingerprintCollisionProbability(this.size);
  }
}

/** Where the low and high 32 bits of a 64-bit slot are (the platform's byte order). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LOW = LITTLE_ENDIAN ? 0 : 1;
const HIGH = 1 - LOW;

/** A claimed slot whose payload its claimer has not written yet. */
const PENDING = 0;

/** The shared store is full: the search cannot go on without forgetting states. */
export class StoreFull extends Error {
  constructor(readonly slots: number) {
    super(`the shared state store is full (${slots} slots): give it more room (--max-states)`);
    this.name = "StoreFull";
  }
}

export function newStore(storage: StateStorage): VisitedStore {
  return storage === "exact" ? new ExactStore() : new FingerprintStore();
}
