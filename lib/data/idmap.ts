/**
 * IdMap: stable dense indices for user or item ids, both ways.
 * Ids are strings or finite numbers; the string "1" and the number 1 are
 * different ids (CSV readers produce strings, so map consistently).
 */
import { UnknownIdError } from '../errors.js';
import { invalid } from '../validate.js';
import { callSync } from '../native.js';

/** Below this many ids a JS Map lookup per id beats the native bulk path's fixed costs. */
const NATIVE_BULK_MIN = 20_000;
/** Ids per native call: bounds the packed text of one call. */
const BULK_SLICE = 1 << 20;

/**
 * Keys end to end as UTF-16 code units, and their lengths (one pass; about 3x
 * cheaper than join() + Buffer.from(..., 'utf16le') on a million short ids).
 * Returns undefined when some key is not a string.
 */
function packStrings(ids: ArrayLike<unknown>, lo: number, hi: number): { text: Uint16Array; lens: Int32Array } | undefined {
  const lens = new Int32Array(hi - lo);
  let text = new Uint16Array((hi - lo) * 16);
  let p = 0;
  for (let k = lo; k < hi; k++) {
    const id = ids[k];
    if (typeof id !== 'string') return undefined;
    const len = id.length;
    if (p + len > text.length) {
      const bigger = new Uint16Array(Math.max(text.length * 2, p + len));
      bigger.set(text.subarray(0, p));
      text = bigger;
    }
    for (let j = 0; j < len; j++) text[p + j] = id.charCodeAt(j);
    p += len;
    lens[k - lo] = len;
  }
  return { text: text.subarray(0, p), lens };
}

export type Id = string | number;

/** Whether `value` can be an id: a string or a finite number. */
export function isId(value: unknown): value is Id {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

export class IdMap {
  private readonly toIndex = new Map<Id, number>();
  private readonly toId: Id[] = [];
  /** The native index of the string ids (made on the first large batch), and how many of toId it has seen. */
  private bulk: { handle: object; synced: number } | undefined;

  /** Build from ids in order; duplicates keep their first index. */
  static from(ids: Iterable<Id>): IdMap {
    const map = new IdMap();
    for (const id of ids) map.add(id);
    return map;
  }

  /** Number of ids. */
  get size(): number {
    return this.toId.length;
  }

  /** The index of `id`, adding it if new. */
  add(id: Id): number {
    const known = this.toIndex.get(id);
    if (known !== undefined) return known;
    if (!isId(id)) {
      throw invalid('id', 'a string or a finite number', id);
    }
    const index = this.toId.length;
    this.toIndex.set(id, index);
    this.toId.push(id);
    return index;
  }

  /**
   * The index of every id in `ids` (adding new ones), written to
   * `out[offset + k]`. One tight loop instead of a call per id, and a run of
   * equal ids (logs are often grouped by user) costs one lookup.
   */
  addAll(ids: ArrayLike<Id>, out: Int32Array, offset = 0): void {
    if (ids.length >= NATIVE_BULK_MIN && Array.isArray(ids) && this.addAllNative(ids, out, offset)) return;
    const map = this.toIndex;
    let last: Id | undefined;
    let lastIndex = -1;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      if (id !== last || lastIndex < 0) {
        const known = map.get(id);
        lastIndex = known !== undefined ? known : this.add(id);
        last = id;
      }
      out[offset + k] = lastIndex;
    }
  }

  /**
   * The bulk path for a large array of strings: a native hash table over the
   * UTF-16 text (a JS Map costs a few hundred ns per lookup of a fresh string;
   * this is several times less). New ids still enter the JS map, in the same
   * first-seen order, so both paths number ids identically. Returns false
   * (doing nothing) when some id is not a string or is very long.
   */
  private addAllNative(ids: readonly Id[], out: Int32Array, offset: number): boolean {
    const n = ids.length;
    const first = packStrings(ids, 0, Math.min(n, BULK_SLICE));
    if (!first) return false;
    const bulk = (this.bulk ??= { handle: callSync((nb) => nb.stringIndexNew()), synced: 0 });
    if (bulk.synced < this.toId.length) {
      // Catch up with string ids added one at a time since the last batch.
      const known: string[] = [];
      const indices: number[] = [];
      for (let i = bulk.synced; i < this.toId.length; i++) {
        const id = this.toId[i]!;
        if (typeof id === 'string') {
          known.push(id);
          indices.push(i);
        }
      }
      const packed = packStrings(known, 0, known.length)!;
      callSync((nb) => nb.stringIndexInsert(bulk.handle, packed.text, packed.lens, Int32Array.from(indices)));
      bulk.synced = this.toId.length;
    }
    // Slices bound the packed text; a slice with a non-string id ends the native path there.
    for (let lo = 0; lo < n; lo += BULK_SLICE) {
      const hi = Math.min(n, lo + BULK_SLICE);
      const packed = lo === 0 ? first : packStrings(ids, lo, hi);
      if (!packed) {
        this.addAll(ids.slice(lo), out, offset + lo);
        return true;
      }
      const fresh = callSync((nb) => nb.stringIndexIntern(bulk.handle, packed.text, packed.lens, this.toId.length, out.subarray(offset + lo, offset + hi)));
      for (let j = 0; j < fresh.length; j++) {
        const id = ids[lo + fresh[j]!]!;
        this.toIndex.set(id, this.toId.length);
        this.toId.push(id);
      }
      bulk.synced = this.toId.length;
    }
    return true;
  }

  /** The index of `id`, or undefined. */
  index(id: Id): number | undefined {
    return this.toIndex.get(id);
  }

  /** The index of `id`; throws UnknownIdError naming the kind of id. */
  indexOrThrow(id: Id, kind: 'user' | 'item', hint?: string): number {
    const index = this.toIndex.get(id);
    if (index === undefined) throw new UnknownIdError(kind, id, hint);
    return index;
  }

  has(id: Id): boolean {
    return this.toIndex.has(id);
  }

  /** The id at `index` (0 <= index < size). */
  id(index: number): Id {
    const id = this.toId[index];
    if (id === undefined) throw invalid('index', `an integer in [0, ${this.size})`, index);
    return id;
  }

  /** All ids in index order (do not modify). */
  ids(): readonly Id[] {
    return this.toId;
  }

  /** Map many indices to ids. */
  idsOf(indices: ArrayLike<number>): Id[] {
    const out = new Array<Id>(indices.length);
    for (let i = 0; i < indices.length; i++) out[i] = this.toId[indices[i]!]!;
    return out;
  }

  /** A copy (adding to it leaves this map unchanged). */
  clone(): IdMap {
    return IdMap.from(this.toId);
  }
}
