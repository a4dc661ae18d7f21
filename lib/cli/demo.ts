/**
 * `fastrec demo`: the main job end to end on the built-in Complete Journey
 * sample. Train each model on a temporal split, evaluate against the
 * baselines, print a comparison table and example recommendations with their
 * explanations, write an HTML report (and save the best model, ready for
 * `fastrec recommend` and `fastrec serve`).
 */
import { join, resolve } from 'node:path';
import { completeJourneyDataset } from '../demo/data.js';
import { writeReport, type DemoResult, type Example, type ExampleItem, type ModelReport } from '../demo/report.js';
import { hardwareThreads, simd } from '../native.js';
import { timeSplit, type Split } from '../evaluate/split.js';
import { evaluate, type EvaluationResult, type MetricName } from '../evaluate/evaluate.js';
import { compareResults } from '../evaluate/compare.js';
import type { Dataset } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import type { Recommendations } from '../recommender.js';
import { saveModel, type PersistableRecommender } from '../models/registry.js';
import { MODEL_SPECS, type CliModelOptions } from './models.js';

/**
 * Settings for this data that differ from a model's command-line defaults:
 * ALS's were chosen on the validation split of the same temporal protocol
 * among 120 random settings (bench/README.md, "ALS on Complete Journey"):
 * with the defaults it scores half of most-popular on these new items.
 */
const DEMO_SETTINGS: Record<string, CliModelOptions> = {
  als: { factors: 128, alpha: 30, regularization: 0.1, unobservedWeight: 0.3, regularizationScaling: 'frequency' },
};
import { progress } from './progress.js';
import { intOption, listOption, parse, printJson, table, UsageError } from './util.js';

export const DEMO_USAGE = `Usage: fastrec demo [--quick] [--out DIR] [--models a,b,...] [--threads N] [--seed N] [--json]

Trains every built-in model on the Complete Journey sample (2,377 households' grocery
receipts, CC0), holds out the last 20% of the receipts in time, evaluates against the
popularity and random baselines, prints a comparison table and example recommendations
with explanations, and writes an HTML report with plots to DIR (default ./fastrec-demo).
--quick uses cheaper settings (seconds; for CI).`;

const K = [1, 5, 10, 20, 50];
const TABLE_K = 10;
const METRICS: MetricName[] = ['precision', 'recall', 'ndcg', 'map', 'hitRate', 'coverage'];

export async function runDemo(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { quick: { type: 'boolean', default: false }, out: { type: 'string' }, models: { type: 'string' }, threads: { type: 'string' }, seed: { type: 'string' } },
    DEMO_USAGE,
  );
  if (values.help) {
    process.stdout.write(DEMO_USAGE + '\n');
    return 0;
  }
  const quick = values.quick === true;
  const json = values.json === true;
  const outDir = resolve(String(values.out ?? 'fastrec-demo'));
  const threads = intOption(values, 'threads', 0, 0, 1024, DEMO_USAGE);
  const seed = intOption(values, 'seed', 42, 0, 2 ** 31 - 1, DEMO_USAGE);
  const wanted = listOption(values, 'models');
  // --quick leaves out the random baseline (its batch scoring is the slowest part of a quick run).
  const specs = wanted ? wanted.map((n) => MODEL_SPECS.find((s) => s.name === n) ?? unknownModel(n)) : MODEL_SPECS.filter((s) => !quick || s.name !== 'random');
  const say = (s: string): void => {
    if (!json) process.stdout.write(s);
  };

  const t0 = performance.now();
  const ds = await completeJourneyDataset();
  say(`fastrec demo (SIMD: ${simd()}, ${hardwareThreads()} hardware threads${quick ? ', quick mode' : ''})\n`);
  say(`Complete Journey sample: ${ds.numUsers} households x ${ds.numItems} products, ${ds.nnz} distinct purchases from ${ds.log.users.length} receipt lines (${((performance.now() - t0) / 1000).toFixed(2)} s)\n`);
  const split = await timeSplit(ds, { fraction: 0.2 });
  say(
    `Temporal split: the last 20% of receipt lines are held out (from ${new Date(split.info.cutoff ?? 0).toISOString().slice(0, 10)}); ` +
      `${split.users.length} households evaluated, ${split.info.coldUsers} new households and ${split.info.coldItems} new products left out.\n\n`,
  );

  const reports: ModelReport[] = [];
  const results: EvaluationResult[] = [];
  const trained: PersistableRecommender[] = [];
  for (const spec of specs) {
    const model = spec.create(DEMO_SETTINGS[spec.name] ?? {}, quick);
    const loss: number[] = [];
    let bar: ReturnType<typeof progress> | undefined;
    const f0 = performance.now();
    await model.fit(split.train, {
      threads,
      seed,
      ...(quick ? {} : (spec.fitOptions?.(split.train) ?? {})),
      onProgress: (p) => {
        bar ??= progress(`train ${spec.name}`, p.iterations, !json);
        if (p.loss !== undefined && Number.isFinite(p.loss)) loss.push(p.loss);
        bar.update(p.iteration, p.loss !== undefined ? `loss ${p.loss.toPrecision(5)}` : '');
      },
    });
    const fitSeconds = (performance.now() - f0) / 1000;
    bar?.stop(loss.length ? `(final loss ${loss[loss.length - 1]!.toPrecision(5)})` : '');
    const ebar = progress(`evaluate ${spec.name}`, 100, !json);
    const r = await evaluate(model, split, { k: K, metrics: METRICS, threads, seed, onProgress: (f) => ebar.update(Math.round(f * 100)) });
    ebar.stop();
    results.push({ ...r, model: spec.name });
    trained.push(model);
    reports.push({ name: spec.name, description: spec.description, fitSeconds, evalSeconds: r.seconds, metrics: r.metrics, ...(loss.length ? { loss } : {}) });
  }

  const notes: string[] = [];
  let significance: DemoResult['significance'];
  if (results.length > 0) {
    const baseline = results.some((r) => r.model === 'popular') ? 'popular' : results[0]!.model;
    const cmp = compareResults(results, { baseline, resamples: quick ? 200 : 1000, seed });
    const json = cmp.toJSON();
    significance = { baseline: json.baseline, users: json.users, resamples: json.resamples, rows: json.rows.map((r) => ({ model: r.model, metrics: r.metrics })) };
    const key = `ndcg@${TABLE_K}`;
    const best = cmp.rows.reduce((a, b) => ((b.metrics[key]?.value ?? -1) > (a.metrics[key]?.value ?? -1) ? b : a));
    const s = best.metrics[key]!;
    notes.push(
      `Best by ${key}: ${best.model} (${s.value.toFixed(4)}${s.ci ? `, 95% CI ${s.ci[0].toFixed(4)}–${s.ci[1].toFixed(4)}` : ''})` +
        (best.baseline ? '.' : `, ${s.diff !== undefined && s.diff >= 0 ? '+' : ''}${(s.diff ?? NaN).toFixed(4)} over ${baseline} (paired t-test p = ${(s.pValue ?? NaN).toPrecision(2)}).`),
    );
  } else {
    notes.push('No trainable models are built into this fastrec yet: the report shows the data only.');
  }
  say(
    `\nComparison on ${split.users.length} households (k = ${TABLE_K}):\n` +
      table(
        reports.map((m) => ({
          model: m.name,
          ...Object.fromEntries(METRICS.map((x) => [`${x}@${TABLE_K}`, Number((m.metrics[`${x}@${TABLE_K}`] ?? NaN).toFixed(4))])),
          'fit s': Number(m.fitSeconds.toFixed(2)),
        })),
      ) +
      notes.map((n) => n + '\n').join(''),
  );

  // Examples from the best model (and the first model that can explain itself).
  const bestIndex = reports.length ? reports.reduce((b, m, i) => ((m.metrics[`ndcg@${TABLE_K}`] ?? -1) > (reports[b]!.metrics[`ndcg@${TABLE_K}`] ?? -1) ? i : b), 0) : -1;
  const examples = bestIndex >= 0 ? makeExamples(ds, split, trained, bestIndex, seed) : [];
  for (const e of examples) {
    say(`\nHousehold ${e.user} bought ${e.history.slice(0, 4).map((h) => h.label).join('; ')}${e.history.length > 4 ? '; ...' : ''}\n`);
    for (const rec of e.recommendations) {
      say(`  ${rec.model} recommends:\n`);
      for (const i of rec.items.slice(0, 5)) say(`    ${i.label}${i.why ? `  <- ${i.why}` : ''}\n`);
    }
  }

  const result: DemoResult = {
    title: 'fastrec demo: Complete Journey grocery recommendations',
    createdAt: new Date().toISOString(),
    environment: { simd: simd(), threads: threads || hardwareThreads(), node: process.versions.node, quick: String(quick), seed },
    dataset: { households: ds.numUsers, products: ds.numItems, 'receipt lines': ds.log.users.length, 'distinct purchases': ds.nnz, source: 'The Complete Journey sample (84.51°), CC0' },
    split: {
      strategy: 'time (last 20% of receipt lines held out)',
      cutoff: new Date(split.info.cutoff ?? 0).toISOString().slice(0, 10),
      'train events': split.info.trainEvents,
      'test events': split.info.testEvents,
      'households evaluated': split.users.length,
      'new households (left out)': split.info.coldUsers,
      'new products (left out)': split.info.coldItems,
    },
    k: K,
    tableMetrics: METRICS,
    tableK: TABLE_K,
    models: reports,
    examples,
    notes,
    ...(significance ? { significance } : {}),
  };
  const html = writeReport(outDir, result);
  let saved: string | undefined;
  if (bestIndex >= 0) {
    saved = join(outDir, 'model.fastrec');
    await saveModel(trained[bestIndex]!, saved, { metadata: { trainedOn: 'Complete Journey sample (demo split)', [`ndcg@${TABLE_K}`]: reports[bestIndex]!.metrics[`ndcg@${TABLE_K}`] } });
  }
  if (json) {
    printJson({ ...result, report: html, model: saved });
  } else {
    say(`\nReport: ${html}\n`);
    if (saved) {
      const u = examples[0]?.user ?? split.train.users.id(0);
      say(`Model (${reports[bestIndex]!.name}): ${saved}\nNext:\n  npx fastrec recommend ${saved} --user ${u} --explain\n  npx fastrec serve ${saved} --port 8080\n`);
    }
  }
  return 0;
}

function unknownModel(name: string): never {
  throw new UsageError(`unknown model '${name}'; available: ${MODEL_SPECS.map((s) => s.name).join(', ') || 'none'}`, DEMO_USAGE);
}

/** A readable product name from the item features. */
export function productLabel(ds: Dataset, item: Id): string {
  const f = ds.itemFeatures?.get(item);
  if (!f) return String(item);
  const type = String(f.product_type ?? f.product_category ?? item).toLowerCase();
  const size = typeof f.package_size === 'string' && f.package_size.trim() ? `, ${f.package_size.replace(/\s+/g, ' ').trim().toLowerCase()}` : '';
  const brand = f.brand ? ` (${String(f.brand).toLowerCase()}${size})` : size ? ` (${size.slice(2)})` : '';
  return type.charAt(0).toUpperCase() + type.slice(1) + brand;
}

function explainText(ds: Dataset, model: PersistableRecommender, user: Id, item: Id): string | undefined {
  if (!model.explain) return undefined;
  try {
    const e = model.explain(user, item);
    const labels = [...new Set(e.contributions.filter((c) => c.weight > 0).map((c) => productLabel(ds, c.item)))].slice(0, 2);
    if (labels.length === 0) return undefined;
    return `because they bought ${labels.join(' and ')}`;
  } catch {
    return undefined;
  }
}

function makeExamples(ds: Dataset, split: Split, models: PersistableRecommender[], bestIndex: number, seed: number): Example[] {
  const train = split.train;
  // Households with a few purchases on both sides, chosen deterministically from the seed.
  const candidates = Array.from(split.users).filter((u) => train.userRow(u).items.length >= 5 && split.test.userRow(u).items.length >= 3);
  const picks: number[] = [];
  for (let n = 0; n < 3 && candidates.length; n++) picks.push(candidates.splice((seed * 7919 + n * 104729) % candidates.length, 1)[0]!);
  // The best model, and the best one that can say why (explain, or the hybrid's reasons).
  const explainers = models.map((m, i) => i).filter((i) => i !== bestIndex && (typeof models[i]!.explain === 'function' || models[i]!.name === 'hybrid'));
  const show = [bestIndex, ...explainers.slice(0, 2)];
  return picks.map((u) => {
    const user = train.users.id(u);
    // The household's most recent distinct purchases in training.
    const events: { item: number; t: number }[] = [];
    const log = train.log;
    for (let e = 0; e < log.users.length; e++) if (log.users[e] === u) events.push({ item: log.items[e]!, t: log.timestamps[e]! });
    events.sort((a, b) => b.t - a.t);
    const recent = [...new Set(events.map((e) => e.item))].slice(0, 6);
    const item = (i: number): ExampleItem => ({ item: train.items.id(i), label: productLabel(ds, train.items.id(i)) });
    return {
      user,
      history: recent.map(item),
      heldOut: Array.from(split.test.userRow(u).items.slice(0, 6)).map(item),
      recommendations: show.map((mi) => {
        const m = models[mi]!;
        // The hybrid explains itself through reasons ("bought together with X", "popular in Y this week").
        const rec = m.name === 'hybrid' ? (m.recommend as (u: Id, o: object) => Recommendations & { reasons?: { text: string }[][] })(user, { k: 5, explain: true }) : m.recommend(user, { k: 5 });
        const reasons = (rec as { reasons?: { text: string }[][] }).reasons;
        return {
          model: m.name,
          items: rec.items.map((id, r) => ({ item: id, label: productLabel(ds, id), score: rec.scores[r]!, why: reasons ? reasons[r]?.slice(0, 2).map((x) => x.text).join('; ') : explainText(ds, m, user, id) })),
        };
      }),
    };
  });
}
