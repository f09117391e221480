// The checker's state key as numbers: stateKey (./state-key.ts) writes every component of a
// state into one reusable buffer, and everything else is derived from that one sequence:
//
//   fingerprint  64 bits hashed straight from the numbers (the visited store's default)
//   text         an exact, printable encoding of the numbers (exact storage, final states,
//                keys sent between processes)
//
// Equal sequences, equal states: the writer of a key keeps it unambiguous (a component of
// variable length is written after its length). A sequence is a list of JS numbers, -0 taken
// as 0 and every NaN as one value, so equal sequences are exactly equal texts, and equal
// sequences have equal fingerprints.

/** Where a component writes its part of a key (a KeyBuffer; a number[] fits too). */
export interface KeySink {
  push(v: number): void;
}

/** 2^48: integers up to this magnitude are written as base-32 digits in the text. */
const SMALL = 2 ** 48;

export class KeyBuffer implements KeySink {
  private f64: Float64Array;
  private i32: Int32Array;
  private n = 0;
  private chars = new Uint8Array(256);

  constructor(capacity = 128) {
    this.f64 = new Float64Array(capacity);
    this.i32 = new Int32Array(this.f64.buffer);
  }

  /** A buffer holding `xs`. */
  static of(...xs: number[]): KeyBuffer {
    const k = new KeyBuffer(Math.max(1, xs.length));
    for (const x of xs) k.push(x);
    return k;
  }

  /** Numbers written so far. */
  get length(): number {
    return this.n;
  }

  /** Number `i` of the sequence. */
  at(i: number): number {
    return this.f64[i];
  }

  /** Start a new key. */
  reset(): void {
    this.n = 0;
  }

  push(v: number): void {
    if (this.n === this.f64.length) this.grow();
    // -0 -> 0, any NaN -> the canonical one: one bit pattern per value.
    this.f64[this.n++] = Number.isNaN(v) ? Number.NaN : v + 0;
  }

  /** Replace number `i` (a length written before the items it counts were). */
  setAt(i: number, v: number): void {
    this.f64[i] = v;
  }

  /** A list of variable length: its length, then its items. */
  pushList(xs: readonly number[]): void {
    this.push(xs.length);
    for (let i = 0; i < xs.length; i++) this.push(xs[i]);
  }

  /** A string: its length, then its UTF-16 code units. */
  pushString(s: string): void {
    this.push(s.length);
    for (let i = 0; i < s.length; i++) this.push(s.charCodeAt(i));
  }

  private grow(): void {
    const f = new Float64Array(this.f64.length * 2);
    f.set(this.f64);
    this.f64 = f;
    this.i32 = new Int32Array(f.buffer);
  }

  /**
   * The 64-bit fingerprint of the sequence, as two 32-bit halves in `out`: two hashes of the
   * numbers' 64-bit patterns (murmur3's block step, and a second one with other constants and
   * rotations), each finished with murmur3's avalanche.
   */
  fingerprint(out: Uint32Array): void {
    const w = this.i32;
    const words = this.n * 2;
    let h1 = 0x9e3779b9 ^ this.n;
    let h2 = Math.imul(0x85ebca6b ^ this.n, 0xc2b2ae35);
    for (let i = 0; i < words; i++) {
      const x = w[i];
      let k = Math.imul(x, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h1 ^= Math.imul(k, 0x1b873593);
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      let j = Math.imul(x, 0x2c1b3c6d);
      j = (j << 11) | (j >>> 21);
      h2 ^= Math.imul(j, 0x297a2d39);
      h2 = (h2 << 17) | (h2 >>> 15);
      h2 = (Math.imul(h2, 9) + 0x52dce729) | 0;
    }
    out[0] = fmix(h1 ^ words);
    out[1] = fmix(h2 ^ h1);
  }

  /**
   * The exact text of the sequence, printable ASCII with no quote or backslash (it travels in
   * JSON documents and job queues). Each number on its own, so the text is prefix-free:
   * an integer of magnitude <= 2^48, zigzagged (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...), in base 32,
   * least significant digit first, every digit but the last from '#'..'B', the last from
   * ']'..'|'; any other number as '!', its shortest round-trip decimal form, '!'.
   */
  text(): string {
    let c = this.chars;
    let len = 0;
    let out = "";
    for (let i = 0; i < this.n; i++) {
      if (len + 12 > c.length) {
        if (c.length < 4096) {
          const bigger = new Uint8Array(c.length * 4);
          bigger.set(c.subarray(0, len));
          this.chars = c = bigger;
        } else {
          out += charsOf(c, len);
          len = 0;
        }
      }
      const v = this.f64[i];
      if (Number.isInteger(v) && v <= SMALL && v >= -SMALL) {
        let z = v >= 0 ? v * 2 : -v * 2 - 1;
        while (z >= 32) {
          c[len++] = 0x23 + (z % 32);
          z = Math.floor(z / 32);
        }
        c[len++] = 0x5d + z;
      } else {
        out += charsOf(c, len);
        len = 0;
        out += `!${v}!`;
      }
    }
    return out + charsOf(c, len);
  }
}

function charsOf(c: Uint8Array, len: number): string {
  return len === 0 ? "" : String.fromCharCode.apply(null, c.subarray(0, len) as unknown as number[]);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
