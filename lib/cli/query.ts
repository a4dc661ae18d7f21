/**
 * `fastrec info`, `fastrec recommend`, `fastrec similar`: read a model file and answer.
 */
import { inspectModelFile } from '../io/modelfile.js';
import { openModel } from '../models/registry.js';
import type { Recommendations } from '../recommender.js';
import { intOption, listOption, parse, printJson, table, UsageError, withId, type Parsed } from './util.js';

export const INFO_USAGE = `Usage: fastrec info <model.fastrec> [--json]

Shows the model's kind, configuration, metadata and the file's sections.`;

export async function runInfo(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, INFO_USAGE);
  if (values.help) return help(INFO_USAGE);
  const path = onePath(positionals, INFO_USAGE);
  const info = inspectModelFile(path);
  if (values.json) {
    printJson(info);
    return 0;
  }
  const mb = (n: number): string => `${(n / 1048576).toFixed(2)} MiB`;
  process.stdout.write(
    `${path}\n` +
      `  model:        ${info.kind} (state version ${info.version})\n` +
      `  file format:  ${info.formatVersion}, ${mb(info.fileBytes)}\n` +
      Object.entries(info.metadata)
        .map(([k, v]) => `  ${(k + ':').padEnd(14)}${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`)
        .join('') +
      `\nConfiguration:\n` +
      Object.entries(info.config)
        .map(([k, v]) => `  ${k} = ${JSON.stringify(v)}\n`)
        .join('') +
      `\nSections:\n` +
      table(info.sections.map((s) => ({ name: s.name, type: s.dtype, length: s.length, bytes: s.byteLength, crc32: s.crc32.toString(16).padStart(8, '0') }))),
  );
  return 0;
}

function help(usage: string): number {
  process.stdout.write(usage + '\n');
  return 0;
}

function onePath(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing the model file argument' : `expected one model file, got ${positionals.length} arguments: ${positionals.join(' ')}`, usage);
  return positionals[0]!;
}

function printRecommendations(values: Parsed['values'], head: Record<string, unknown>, rec: Recommendations, explain?: (item: string | number) => unknown): void {
  const rows = rec.items.map((item, r) => ({ rank: r + 1, item, score: Number(rec.scores[r]!.toFixed(6)), ...(explain ? { why: explain(item) } : {}) }));
  if (values.json) {
    printJson({ ...head, items: rows });
    return;
  }
  process.stdout.write(
    table(
      rows.map((r) => ({ ...r, why: r.why === undefined ? undefined : String(r.why) })),
      explain ? ['rank', 'item', 'score', 'why'] : ['rank', 'item', 'score'],
    ),
  );
}

export const RECOMMEND_USAGE = `Usage: fastrec recommend <model.fastrec> --user ID [--k 10] [--exclude ID,ID] [--include ID,ID]
                         [--keep-seen] [--explain] [--json]
       fastrec recommend <model.fastrec> --history ID,ID,...   (a new visitor: fold-in from items)

Top-k items for a known user, or for a visitor described by the items they interacted with.`;

export async function runRecommend(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      user: { type: 'string' },
      history: { type: 'string', multiple: true },
      k: { type: 'string' },
      exclude: { type: 'string', multiple: true },
      include: { type: 'string', multiple: true },
      'keep-seen': { type: 'boolean', default: false },
      explain: { type: 'boolean', default: false },
    },
    RECOMMEND_USAGE,
  );
  if (values.help) return help(RECOMMEND_USAGE);
  const path = onePath(positionals, RECOMMEND_USAGE);
  const history = listOption(values, 'history');
  if ((values.user === undefined) === (history === undefined)) throw new UsageError('give either --user ID or --history ID,ID,...', RECOMMEND_USAGE);
  const k = intOption(values, 'k', 10, 1, 100_000, RECOMMEND_USAGE);
  const { model } = openModel(path);
  const opts = { k, filterSeen: !values['keep-seen'], exclude: listOption(values, 'exclude'), include: listOption(values, 'include') };
  const numericToo = (ids: string[] | undefined): (string | number)[] | undefined => ids?.flatMap((s) => (Number.isFinite(Number(s)) ? [s, Number(s)] : [s]));
  opts.exclude = numericToo(opts.exclude) as string[] | undefined;
  opts.include = numericToo(opts.include) as string[] | undefined;
  if (history) {
    const rec = model.recommendForHistory(numericToo(history)!, opts);
    printRecommendations(values, { model: model.name, history }, rec);
    return 0;
  }
  const user = String(values.user);
  // The hybrid explains itself with reasons ("bought together with X"); other models with contributions.
  const reasonsWanted = values.explain === true && model.name === 'hybrid';
  const rec = withId(user, (id) => model.recommend(id, reasonsWanted ? ({ ...opts, explain: true } as typeof opts) : opts)) as Recommendations & { reasons?: { text: string }[][] };
  const position = new Map(rec.items.map((item, r) => [item, r]));
  const explain = rec.reasons
    ? (item: string | number): string => (rec.reasons![position.get(item)!] ?? []).slice(0, 2).map((x) => x.text).join('; ')
    : values.explain && model.explain
      ? (item: string | number): string => {
          const e = withId(user, (id) => model.explain!(id, item));
          const byItem = new Map<string | number, number>();
          for (const c of e.contributions) byItem.set(c.item, (byItem.get(c.item) ?? 0) + c.weight);
          const parts = [...byItem].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([i, w]) => `${i} (${w.toFixed(3)})`);
          return parts.length ? `because of ${parts.join(', ')}` : '';
        }
      : undefined;
  printRecommendations(values, { model: model.name, user }, rec, explain);
  return 0;
}

export const SIMILAR_USAGE = `Usage: fastrec similar <model.fastrec> --item ID [--k 10] [--json]

Items most similar to an item (by the model's item vectors or neighbour lists).`;

export async function runSimilar(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { item: { type: 'string' }, k: { type: 'string' } }, SIMILAR_USAGE);
  if (values.help) return help(SIMILAR_USAGE);
  const path = onePath(positionals, SIMILAR_USAGE);
  if (values.item === undefined) throw new UsageError('missing --item ID', SIMILAR_USAGE);
  const k = intOption(values, 'k', 10, 1, 100_000, SIMILAR_USAGE);
  const { model } = openModel(path);
  const rec = withId(String(values.item), (id) => model.similarItems(id, k));
  printRecommendations(values, { model: model.name, item: values.item }, rec);
  return 0;
}
