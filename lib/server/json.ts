/**
 * The recommendation routes' JSON answer, written as a string from pieces:
 * `{"user":…,"model":…,"context":…,"items":[{"item":…,"score":…},…]}`.
 *
 * The bytes are exactly JSON.stringify of that object (same key order, same
 * escaping, numbers in their shortest round-trip form, non-finite scores as
 * null), which is also what Fastify's schema serializer wrote for it. Written
 * by hand because it is the request path: each item's `{"item":<id>,"score":`
 * prefix is escaped once per model and reused (ItemJson), so a response costs
 * one string concatenation per item and one number formatting per score,
 * instead of a result object per item and a serializer walking them.
 */
import type { Id, IdMap } from '../data/idmap.js';

/** The content type of every JSON answer (Fastify's, and the socket front's for the same routes). */
export const JSON_TYPE = 'application/json; charset=utf-8';

/** `{"item":<id as JSON>,"score":` for one id. */
export function itemPrefix(id: Id): string {
  return '{"item":' + JSON.stringify(id) + ',"score":';
}

/** A score as JSON.stringify writes a number. */
export function scoreJson(s: number): string {
  return Number.isFinite(s) ? '' + s : 'null';
}

/**
 * Item prefixes by item index, made on first use (a service recommends a
 * fraction of a large catalog; nothing is paid at start-up).
 */
export class ItemJson {
  private readonly prefixes: (string | undefined)[];
  constructor(private readonly items: IdMap) {
    this.prefixes = new Array<string | undefined>(items.size);
  }

  prefix(index: number): string {
    return (this.prefixes[index] ??= itemPrefix(this.items.id(index)));
  }
}

/** The part before the items: `{"user":"u1","model":"als","items":[` (keys present only when given). */
export function head(fields: { user?: string; item?: string; model: string; context?: string | undefined }): string {
  let s = '{';
  if (fields.user !== undefined) s += '"user":' + JSON.stringify(fields.user) + ',';
  if (fields.item !== undefined) s += '"item":' + JSON.stringify(fields.item) + ',';
  s += '"model":' + JSON.stringify(fields.model) + ',';
  if (fields.context) s += '"context":' + JSON.stringify(fields.context) + ',';
  return s + '"items":[';
}

/** The whole answer from item indices (prefixes from `json`) and their scores. */
export function answerByIndex(headText: string, json: ItemJson, indices: ArrayLike<number>, scores: ArrayLike<number>): string {
  let s = headText;
  for (let r = 0; r < indices.length; r++) s += (r ? ',' : '') + json.prefix(indices[r]!) + scoreJson(scores[r]!) + '}';
  return s + ']}';
}

/** The whole answer from item ids and their scores (models answering with ids only). */
export function answerById(headText: string, ids: readonly Id[], scores: ArrayLike<number>): string {
  let s = headText;
  for (let r = 0; r < ids.length; r++) s += (r ? ',' : '') + itemPrefix(ids[r]!) + scoreJson(scores[r]!) + '}';
  return s + ']}';
}
