/**
 * Interactions: an append-only log of (user, item, value, event, timestamp)
 * with ids mapped to dense indices as they arrive. Columns are growable typed
 * arrays, so millions of rows cost 21 bytes each.
 */
import { DimensionMismatchError } from '../errors.js';
import { IdMap, type Id } from './idmap.js';
import { invalid, knownOptions } from '../validate.js';

/** Default weights per event type; `value * weight` is what a model sees. */
export const DEFAULT_EVENT_WEIGHTS: Readonly<Record<string, number>> = Object.freeze({
  view: 1,
  click: 1,
  cart: 3,
  wishlist: 2,
  purchase: 5,
});

/** One interaction. `timestamp` is milliseconds since the epoch, a Date or an ISO-8601 string. */
export interface InteractionRecord {
  user: Id;
  item: Id;
  value?: number;
  event?: string;
  timestamp?: number | Date | string;
}

/** Column-wise input: parallel arrays (plain arrays or typed arrays). */
export interface InteractionColumns {
  users: ArrayLike<Id>;
  items: ArrayLike<Id>;
  values?: ArrayLike<number>;
  events?: ArrayLike<string>;
  timestamps?: ArrayLike<number>;
}

export interface InteractionsOptions {
  /** Weight per event type (merged over {@link DEFAULT_EVENT_WEIGHTS}). An unknown event type is an error. */
  eventWeights?: Record<string, number>;
  /** Start from existing id maps (e.g. to add to a trained model's ids). */
  users?: IdMap;
  items?: IdMap;
}

const NO_EVENT = 255;

function grow<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const next = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2, 1024));
  next.set(a);
  return next;
}

/** Parse a timestamp into epoch milliseconds (NaN when absent). */
export function toEpochMs(t: number | Date | string | undefined, name = 'timestamp'): number {
  if (t === undefined || t === null || t === '') return NaN;
  if (typeof t === 'number') {
    if (!Number.isFinite(t)) throw invalid(name, 'a finite number of milliseconds, a Date or an ISO-8601 string', t);
    return t;
  }
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  if (Number.isNaN(ms)) throw invalid(name, 'a valid date', t);
  return ms;
}

export class Interactions {
  readonly users: IdMap;
  readonly items: IdMap;
  readonly eventWeights: Readonly<Record<string, number>>;
  /** Event type names in code order (the `events` column holds indices into this, 255 = none). */
  readonly eventNames: string[];
  private readonly eventIndex: Map<string, number>;
  private userCol = new Int32Array(0);
  private itemCol = new Int32Array(0);
  private valueCol = new Float32Array(0);
  private timeCol = new Float64Array(0);
  private eventCol = new Uint8Array(0);
  private n = 0;

  constructor(options: InteractionsOptions = {}) {
    knownOptions('options', options, ['eventWeights', 'users', 'items']);
    const weights = { ...DEFAULT_EVENT_WEIGHTS, ...(options.eventWeights ?? {}) };
    for (const [event, w] of Object.entries(weights)) {
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw invalid(`eventWeights.${event}`, 'a finite number >= 0', w);
    }
    this.eventWeights = Object.freeze(weights);
    this.eventNames = Object.keys(weights);
    this.eventIndex = new Map(this.eventNames.map((name, code) => [name, code]));
    if (this.eventNames.length >= NO_EVENT) throw invalid('eventWeights', 'fewer than 255 event types', this.eventNames.length);
    this.users = options.users ?? new IdMap();
    this.items = options.items ?? new IdMap();
  }

  /** Collect from an iterable or async iterable of records. */
  static async from(source: Iterable<InteractionRecord> | AsyncIterable<InteractionRecord>, options?: InteractionsOptions): Promise<Interactions> {
    const log = new Interactions(options);
    for await (const rec of source as AsyncIterable<InteractionRecord>) log.addRecord(rec);
    return log;
  }

  /** Collect from parallel arrays. */
  static fromColumns(columns: InteractionColumns, options?: InteractionsOptions): Interactions {
    const log = new Interactions(options);
    log.addColumns(columns);
    return log;
  }

  /** Number of rows. */
  get length(): number {
    return this.n;
  }

  private reserve(extra: number): void {
    const need = this.n + extra;
    this.userCol = grow(this.userCol, need);
    this.itemCol = grow(this.itemCol, need);
    this.valueCol = grow(this.valueCol, need);
    this.timeCol = grow(this.timeCol, need);
    this.eventCol = grow(this.eventCol, need);
  }

  private eventCode(event: string | undefined, name = 'event'): number {
    if (event === undefined || event === null || event === '') return NO_EVENT;
    const code = this.eventIndex.get(event);
    if (code === undefined) {
      throw invalid(name, `one of the configured event types (${this.eventNames.join(', ')})`, event, 'Add it to options.eventWeights.');
    }
    return code;
  }

  /** Add one interaction. `value` defaults to 1; it must be finite (negative values are allowed here and checked by models that need non-negative data). */
  add(user: Id, item: Id, value = 1, event?: string, timestamp?: number | Date | string): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid('value', 'a finite number', value, `(user ${JSON.stringify(user)}, item ${JSON.stringify(item)})`);
    if (this.n === this.userCol.length) this.reserve(1);
    const i = this.n;
    this.userCol[i] = this.users.add(user);
    this.itemCol[i] = this.items.add(item);
    this.valueCol[i] = value;
    this.eventCol[i] = this.eventCode(event);
    this.timeCol[i] = toEpochMs(timestamp);
    this.n++;
  }

  addRecord(rec: InteractionRecord): void {
    if (typeof rec !== 'object' || rec === null) throw invalid('record', 'an object { user, item, value?, event?, timestamp? }', rec);
    this.add(rec.user, rec.item, rec.value ?? 1, rec.event, rec.timestamp);
  }

  /**
   * Add parallel arrays (all of the same length). Values, events and
   * timestamps are checked before any row is added, so a bad value leaves the
   * log unchanged (an invalid id, found while mapping, may leave earlier new
   * ids in the id maps, without rows).
   */
  addColumns(c: InteractionColumns): void {
    if (typeof c !== 'object' || c === null) throw invalid('columns', 'an object { users, items, values?, events?, timestamps? }', c);
    const len = c.users?.length;
    if (typeof len !== 'number') throw invalid('columns.users', 'an array of ids', c.users);
    if (typeof c.items?.length !== 'number') throw invalid('columns.items', 'an array of ids', c.items);
    for (const key of ['items', 'values', 'events', 'timestamps'] as const) {
      const col = c[key];
      if (col !== undefined && col.length !== len) {
        throw new DimensionMismatchError(`columns.${key} has length ${col.length} but columns.users has length ${len}: all columns must have the same length`);
      }
    }
    this.reserve(len);
    const { users, items, values, events, timestamps } = c;
    const base = this.n;
    // Rows past this.n are scratch until n moves, so a throw below adds nothing.
    const valueOut = this.valueCol.subarray(base, base + len);
    if (values) {
      for (let k = 0; k < len; k++) {
        const v = values[k]!;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`columns.values[${k}]`, 'a finite number', v);
        valueOut[k] = v;
      }
    } else valueOut.fill(1);
    const eventOut = this.eventCol.subarray(base, base + len);
    if (events) {
      let last: string | undefined;
      let code = NO_EVENT;
      for (let k = 0; k < len; k++) {
        const e = events[k];
        if (e !== last || k === 0) code = this.eventCode(e, `columns.events[${k}]`);
        last = e;
        eventOut[k] = code;
      }
    } else eventOut.fill(NO_EVENT);
    const timeOut = this.timeCol.subarray(base, base + len);
    if (timestamps) {
      for (let k = 0; k < len; k++) {
        const t = timestamps[k]!;
        timeOut[k] = typeof t === 'number' && Number.isFinite(t) ? t : toEpochMs(t, `columns.timestamps[${k}]`);
      }
    } else timeOut.fill(NaN);
    this.users.addAll(users, this.userCol, base);
    this.items.addAll(items, this.itemCol, base);
    this.n += len;
  }

  /**
   * The log as columns (views, not copies): user and item indices, raw
   * values, event codes (255 = none), timestamps in ms (NaN = none), and the
   * effective weight `value * eventWeight` per row.
   */
  columns(): { users: Int32Array; items: Int32Array; values: Float32Array; events: Uint8Array; timestamps: Float64Array } {
    return {
      users: this.userCol.subarray(0, this.n),
      items: this.itemCol.subarray(0, this.n),
      values: this.valueCol.subarray(0, this.n),
      events: this.eventCol.subarray(0, this.n),
      timestamps: this.timeCol.subarray(0, this.n),
    };
  }

  /** Effective weights: value times the weight of the row's event type (1 when it has none). */
  weights(): Float32Array {
    const out = new Float32Array(this.n);
    const table = new Float32Array(256).fill(1);
    this.eventNames.forEach((name, code) => (table[code] = this.eventWeights[name]!));
    for (let i = 0; i < this.n; i++) out[i] = this.valueCol[i]! * table[this.eventCol[i]!]!;
    return out;
  }
}
