/**
 * A small seeded pseudo-random generator for splits, sampling and the
 * bootstrap: a Weyl sequence (step 0x9e3779b9, the golden ratio in 32 bits)
 * passed through the murmur3 32-bit finalizer. Fast, reproducible across
 * platforms, and good enough for shuffling and resampling (not cryptography).
 */
import { integer } from '../validate.js';

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = integer('seed', seed, 0, 2 ** 32 - 1) >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** A uniform integer in [0, n) for n >= 1 (multiply-shift: bias below 2^-32 * n, negligible here). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffle `a[lo..hi)` in place (Fisher–Yates). */
  shuffle<T extends { [i: number]: number }>(a: T, lo = 0, hi = (a as unknown as { length: number }).length): T {
    for (let i = hi - 1; i > lo; i--) {
      const j = lo + this.int(i - lo + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}

/** A seed derived from a base seed and a stream number, so that sub-tasks (a user, a fold) get independent streams. */
export function deriveSeed(seed: number, stream: number): number {
  let z = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
