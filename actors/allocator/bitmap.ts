// A set of the integers 0..size-1, as one bit each: the allocator's free lists (addresses of a
// subnet, ports of the ingress range). Memory is size/8 bytes; taking the lowest free member is
// O(1) amortized, because a hint remembers the lowest word that may hold a free bit: a full word
// is skipped once between two releases below it.
import { assert } from '../../runtime/index.js';

const FULL = 0xffff_ffff;

export class Bitmap {
  private readonly words: Uint32Array;
  /** No word below this one has a free bit. */
  private hint = 0;
  private used = 0;

  constructor(readonly size: number) {
    assert(Number.isSafeInteger(size) && size >= 0, `bitmap size ${size} is not a count`);
    this.words = new Uint32Array(Math.ceil(size / 32));
    // The bits past `size` in the last word are set, so that they never look free.
    const tail = size % 32;
    if (tail !== 0) this.words[this.words.length - 1] = (FULL << tail) >>> 0;
  }

  /** Members taken. */
  get count(): number {
    return this.used;
  }

  has(i: number): boolean {
    this.check(i);
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Takes `i`; false if it was taken already. */
  set(i: number): boolean {
    if (this.has(i)) return false;
    this.words[i >>> 5] = (this.words[i >>> 5]! | (1 << (i & 31))) >>> 0;
    this.used++;
    return true;
  }

  /** Frees `i`; false if it was free. */
  clear(i: number): boolean {
    if (!this.has(i)) return false;
    const w = i >>> 5;
    this.words[w] = (this.words[w]! & ~(1 << (i & 31))) >>> 0;
    this.used--;
    if (w < this.hint) this.hint = w;
    return true;
  }

  /** Takes the lowest free member and returns it; -1 when none is free. */
  takeLowest(): number {
    const words = this.words;
    let w = this.hint;
    while (w < words.length && words[w] === FULL) w++;
    this.hint = w;
    if (w === words.length) return -1;
    const free = ~words[w]!;
    const i = w * 32 + (31 - Math.clz32(free & -free));
    this.set(i);
    return i;
  }

  private check(i: number): void {
    assert(Number.isInteger(i) && i >= 0 && i < this.size, () => `bit ${i} is outside 0..${this.size - 1}`);
  }
}
