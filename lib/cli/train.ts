/**
 * `fastrec train` (fit one model on a file and save it) and `fastrec eval`
 * (fit several models on a split of a file and compare them).
 */
import { saveModel, type PersistableRecommender } from '../models/registry.js';
import { leaveLastKSplit, randomSplit, timeSplit, type Split } from '../evaluate/split.js';
import { evaluate, DEFAULT_METRICS, type EvaluationResult, type MetricName } from '../evaluate/evaluate.js';
import { compareResults } from '../evaluate/compare.js';
import type { Dataset } from '../data/dataset.js';
import type { FitOptions } from '../recommender.js';
import { FastrecError, InvalidArgumentError } from '../errors.js';
import { DATA_HELP, DATA_OPTIONS, loadDataset } from './data.js';
import { MODEL_SPECS, modelSpec, persistable, type CliModelOptions, type ModelSpec } from './models.js';
import { progress } from './progress.js';
import { intOption, listOption, numOption, parse, printJson, UsageError, type Parsed } from './util.js';

const HYPER = {
  factors: { type: 'string' },
  iterations: { type: 'string' },
  regularization: { type: 'string' },
  alpha: { type: 'string' },
  neighbors: { type: 'string' },
  set: { type: 'string', multiple: true },
  threads: { type: 'string' },
  seed: { type: 'string' },
} as const;

const modelNames = (): string => MODEL_SPECS.map((s) => s.name).join('|') || '(none built in)';

export const TRAIN_USAGE = () => `Usage: fastrec train <interactions.csv|tsv|jsonl> --model ${modelNames()} --out model.fastrec
                     [--items attributes.csv] [--factors N] [--iterations N] [--regularization X]
                     [--alpha X] [--neighbors N] [--set option=value ...] [--threads N] [--seed N] [--json]
                     [--ann]

Fits a model on all interactions and saves it in one file (for recommend, similar, serve).
--set passes any other model option by its API name, e.g. --set solver=cholesky.
--ann also builds the HNSW indexes \`fastrec serve --ann\` uses (factor models such as als) and
stores them in the file: the service maps them instead of building them at every start.

${DATA_HELP}`;

/** Hyper-parameters from the flags and --set key=value pairs (numbers and booleans converted). */
function hyperOf(values: Parsed['values'], usage: string): CliModelOptions {
  const out: CliModelOptions = {};
  const conv = (v: string): string | number | boolean => (v === 'true' ? true : v === 'false' ? false : v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v);
  for (const k of ['factors', 'iterations', 'regularization', 'alpha', 'neighbors'] as const) {
    if (values[k] !== undefined) out[k] = conv(String(values[k]));
  }
  for (const kv of (values.set as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects option=value, got ${JSON.stringify(kv)}`, usage);
    out[kv.slice(0, eq)] = conv(kv.slice(eq + 1));
  }
  return out;
}

function specOf(name: string | undefined, usage: string): ModelSpec {
  if (name === undefined) throw new UsageError(`missing --model (one of ${modelNames()})`, usage);
  const spec = modelSpec(name);
  if (!spec) throw new UsageError(`unknown model '${name}'; available: ${modelNames()}`, usage);
  return spec;
}

function create(spec: ModelSpec, hyper: CliModelOptions, usage: string): PersistableRecommender {
  try {
    return spec.create(hyper, false);
  } catch (err) {
    // Bad hyper-parameters are usage errors: name the flag, keep the model's own message.
    if (err instanceof InvalidArgumentError || err instanceof TypeError) throw new UsageError(`--model ${spec.name}: ${err.message}`, usage);
    throw err;
  }
}

async function fitWithProgress(spec: ModelSpec, model: PersistableRecommender, data: Dataset, threads: number, seed: number, quiet: boolean): Promise<{ seconds: number; loss: number[] }> {
  const loss: number[] = [];
  let bar: ReturnType<typeof progress> | undefined;
  const t0 = performance.now();
  const fit = (extra: Partial<FitOptions>) =>
    model.fit(data, {
      threads,
      seed,
      ...extra,
      onProgress: (p) => {
        bar ??= progress(`train ${spec.name}`, p.iterations, !quiet);
        if (p.loss !== undefined) loss.push(p.loss);
        bar.update(p.iteration, p.loss !== undefined ? `loss ${p.loss.toPrecision(5)}` : '');
      },
    });
  const extra = spec.fitOptions?.(data) ?? {};
  try {
    await fit(extra);
  } catch (err) {
    // Learning the hybrid's blend weights needs enough validation data; without it, keep the default weights.
    if (!(err instanceof InvalidArgumentError) || !('learnWeights' in extra)) throw err;
    if (!quiet) process.stderr.write(`fastrec: ${spec.name}: ${err.message}; training with the default blend weights instead\n`);
    await fit({});
  }
  bar?.stop();
  return { seconds: (performance.now() - t0) / 1000, loss };
}

export async function runTrain(args: string[]): Promise<number> {
  const usage = TRAIN_USAGE();
  const { values, positionals } = parse(args, { ...DATA_OPTIONS, ...HYPER, model: { type: 'string' }, out: { type: 'string' }, ann: { type: 'boolean', default: false } }, usage);
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one interactions file, got: ${positionals.join(' ')}` : 'missing the interactions file', usage);
  if (values.out === undefined) throw new UsageError('missing --out model.fastrec', usage);
  const spec = specOf(values.model as string | undefined, usage);
  const hyper = hyperOf(values, usage);
  const threads = intOption(values, 'threads', 0, 0, 1024, usage);
  const seed = intOption(values, 'seed', 42, 0, 2 ** 31 - 1, usage);
  const model = create(spec, hyper, usage);
  if (!persistable(model)) {
    throw new FastrecError('INVALID_ARGUMENT', `the ${spec.name} model cannot be saved to a model file yet; compare it with \`fastrec eval --models ${spec.name},...\` or use it from the API`);
  }
  const quiet = values.json === true;
  const t0 = performance.now();
  const data = await loadDataset(positionals[0]!, values, usage, threads);
  const readSeconds = (performance.now() - t0) / 1000;
  if (!quiet) {
    process.stderr.write(`read ${data.rows} rows${data.skipped ? ` (${data.skipped} skipped)` : ''}: ${data.dataset.numUsers} users x ${data.dataset.numItems} items, ${data.dataset.nnz} pairs in ${readSeconds.toFixed(2)} s (columns: ${Object.entries(data.columns).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(', ')})\n`);
  }
  const fit = await fitWithProgress(spec, model, data.dataset, threads, seed, quiet);
  const out = String(values.out);
  let indexes: Record<string, Uint8Array> | undefined;
  if (values.ann === true) {
    const { buildServingIndexes } = await import('../server/model.js');
    const t1 = performance.now();
    try {
      indexes = await buildServingIndexes(model);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new UsageError(`--ann: ${err.message}`, usage);
      throw err;
    }
    if (!quiet) process.stderr.write(`built the serving indexes in ${((performance.now() - t1) / 1000).toFixed(2)} s\n`);
  }
  await saveModel(model, out, {
    ...(indexes ? { indexes } : {}),
    metadata: { trainedOn: positionals[0], users: data.dataset.numUsers, items: data.dataset.numItems, pairs: data.dataset.nnz, fitSeconds: Number(fit.seconds.toFixed(3)), options: hyper },
  });
  const summary = { model: spec.name, out, users: data.dataset.numUsers, items: data.dataset.numItems, pairs: data.dataset.nnz, fitSeconds: fit.seconds, finalLoss: fit.loss.at(-1) ?? (model as { lastLoss?: number }).lastLoss ?? null };
  if (quiet) printJson(summary);
  else process.stdout.write(`trained ${spec.name} in ${fit.seconds.toFixed(2)} s${summary.finalLoss !== null ? ` (final loss ${summary.finalLoss.toPrecision(5)})` : ''}; saved ${out}\n`);
  return 0;
}

export const EVAL_USAGE = () => `Usage: fastrec eval <interactions.csv|tsv|jsonl> [--models ${modelNames().replace(/\|/g, ',')}]
                    [--split time|random|leave-last] [--fraction 0.2] [--holdout N] [--k 10,20]
                    [--metrics ${DEFAULT_METRICS.join(',')}] [--baseline NAME] [--markdown] [--json]
                    [--items attributes.csv] [model options as for train] [--threads N] [--seed N]

Splits the interactions (default: the last 20% in time held out), fits each model on the
training side and compares them on the held-out side: mean, 95% bootstrap CI and a paired
t-test against the baseline model.

${DATA_HELP}`;

export async function runEval(args: string[]): Promise<number> {
  const usage = EVAL_USAGE();
  const { values, positionals } = parse(
    args,
    {
      ...DATA_OPTIONS,
      ...HYPER,
      models: { type: 'string' },
      split: { type: 'string' },
      fraction: { type: 'string' },
      holdout: { type: 'string' },
      k: { type: 'string' },
      metrics: { type: 'string' },
      baseline: { type: 'string' },
      markdown: { type: 'boolean', default: false },
    },
    usage,
  );
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one interactions file', usage);
  const specs = (listOption(values, 'models') ?? MODEL_SPECS.map((s) => s.name)).map((n) => specOf(n, usage));
  if (specs.length === 0) throw new UsageError('no models to evaluate', usage);
  const hyper = hyperOf(values, usage);
  const threads = intOption(values, 'threads', 0, 0, 1024, usage);
  const seed = intOption(values, 'seed', 42, 0, 2 ** 31 - 1, usage);
  const ks = (listOption(values, 'k') ?? ['10']).map((s) => {
    const k = Number(s);
    if (!Number.isInteger(k) || k < 1 || k > 10_000) throw new UsageError(`--k must be integers in [1, 10000], got ${JSON.stringify(s)}`, usage);
    return k;
  });
  const metrics = (listOption(values, 'metrics') ?? [...DEFAULT_METRICS]) as MetricName[];
  const fraction = numOption(values, 'fraction', usage) ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new UsageError(`--fraction must be in (0, 1), got ${fraction}`, usage);
  const how = String(values.split ?? 'time');
  const models = specs.map((s) => create(s, hyper, usage));
  const quiet = values.json === true;
  const data = await loadDataset(positionals[0]!, values, usage, threads);
  let split: Split;
  if (how === 'time') split = await timeSplit(data.dataset, { fraction, threads });
  else if (how === 'random') split = await randomSplit(data.dataset, { fraction, seed, threads });
  else if (how === 'leave-last') split = await leaveLastKSplit(data.dataset, { k: intOption(values, 'holdout', 1, 1, 1_000_000, usage), threads });
  else throw new UsageError(`--split must be time, random or leave-last, got ${JSON.stringify(how)}`, usage);
  if (!quiet) process.stderr.write(`${split.info.strategy} split: ${split.info.trainEvents} training and ${split.info.testEvents} test events; ${split.users.length} users evaluated (${split.info.coldUsers} cold users, ${split.info.coldItems} cold items left out)\n`);
  const results: EvaluationResult[] = [];
  for (let m = 0; m < specs.length; m++) {
    await fitWithProgress(specs[m]!, models[m]!, split.train, threads, seed, quiet);
    const bar = progress(`evaluate ${specs[m]!.name}`, 100, !quiet);
    const r = await evaluate(models[m]!, split, { k: ks, metrics, threads, seed, onProgress: (f) => bar.update(Math.round(f * 100)) });
    bar.stop();
    results.push({ ...r, model: specs[m]!.name });
  }
  const baseline = (values.baseline as string | undefined) ?? (specs.some((s) => s.name === 'popular') ? 'popular' : specs[0]!.name);
  if (!specs.some((s) => s.name === baseline)) throw new UsageError(`--baseline ${baseline} is not among --models`, usage);
  const cmp = compareResults(results, { baseline, seed });
  if (quiet) printJson({ split: split.info, comparison: cmp.toJSON() });
  else process.stdout.write(values.markdown ? cmp.toMarkdown() : cmp.toString() + '\n');
  return 0;
}
