/**
 * Text features: tokenization and TF-IDF weighting of item titles and
 * descriptions, for the content model.
 *
 * TF-IDF as used here (the "sublinear, smoothed" variant):
 *   tf(t, d)  = 1 + ln(count of t in d)
 *   idf(t)    = ln((1 + N) / (1 + df(t))) + 1      (N documents, df = documents containing t)
 *   w(t, d)   = tf(t, d) * idf(t), then each document's vector is scaled to unit L2 norm.
 * The +1 terms keep a term that is in every document from vanishing and avoid division by zero.
 */

/** Words too common to tell items apart. Short on purpose: product titles are short. */
const STOPWORDS = new Set(['a', 'an', 'and', 'the', 'of', 'for', 'with', 'in', 'on', 'to', 'or', 'by', 'at', 'from', 'is']);

/**
 * Lower-case word tokens: runs of letters or digits (Unicode aware); stopwords and
 * one-character tokens other than digits are dropped.
 */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const t = m[0];
    if (t.length < 2 && !/\d/.test(t)) continue;
    if (STOPWORDS.has(t)) continue;
    out.push(t);
  }
  return out;
}

/** A fitted vocabulary: token -> column, with its inverse document frequency. */
export interface TfIdfVocabulary {
  tokens: string[];
  idf: Float64Array;
  index: Map<string, number>;
}

/**
 * Build the vocabulary of a corpus (documents as token lists). Tokens in fewer
 * than `minDf` documents are dropped (typos, unique codes); columns are sorted
 * by token so the result does not depend on document order.
 */
export function fitTfIdf(docs: readonly (readonly string[])[], minDf = 1): TfIdfVocabulary {
  const df = new Map<string, number>();
  for (const doc of docs) for (const t of new Set(doc)) df.set(t, (df.get(t) ?? 0) + 1);
  const tokens = [...df.entries()].filter(([, n]) => n >= minDf).map(([t]) => t).sort();
  const n = docs.length;
  const idf = Float64Array.from(tokens, (t) => Math.log((1 + n) / (1 + df.get(t)!)) + 1);
  return { tokens, idf, index: new Map(tokens.map((t, i) => [t, i])) };
}

/** One document's TF-IDF vector (sorted columns, unit L2 norm; empty if no known token). */
export function tfIdfVector(doc: readonly string[], vocab: TfIdfVocabulary): { indices: Int32Array; values: Float32Array } {
  const counts = new Map<number, number>();
  for (const t of doc) {
    const c = vocab.index.get(t);
    if (c !== undefined) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const indices = Int32Array.from(counts.keys()).sort();
  const w = Array.from(indices, (c) => (1 + Math.log(counts.get(c)!)) * vocab.idf[c]!);
  let sq = 0;
  for (const x of w) sq += x * x;
  const norm = Math.sqrt(sq) || 1;
  return { indices, values: Float32Array.from(w, (x) => x / norm) };
}
