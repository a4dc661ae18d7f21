/**
 * IdMap: stable dense indices for user or item ids, both ways.
 * Ids are strings or finite numbers; the string "1" and the number 1 are
 * different ids (CSV readers produce strings, so map consistently).
 */
import { UnknownIdError } from '../errors.js';
import { invalid } from '../validate.js';

export type Id = string | number;

export class IdMap {
  private readonly toIndex = new Map<Id, number>();
  private readonly toId: Id[] = [];

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
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
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
