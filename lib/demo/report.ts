/**
 * The demo's HTML report: comparison table, training loss, metrics per model
 * and recall@k curves as inline SVG, and example recommendations with their
 * explanations. One self-contained file (plus results.json with the numbers).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, escapeXml, lineChart } from './svg.js';

export interface ModelReport {
  name: string;
  description: string;
  fitSeconds: number;
  evalSeconds: number;
  /** 'recall@10' → value, for every k of the run. */
  metrics: Record<string, number>;
  /** Training loss after each iteration (iterative models only). */
  loss?: number[];
}

export interface ExampleItem {
  item: string | number;
  label: string;
  score?: number;
  why?: string;
}

export interface Example {
  user: string | number;
  history: ExampleItem[];
  heldOut: ExampleItem[];
  recommendations: { model: string; items: ExampleItem[] }[];
}

export interface DemoResult {
  title: string;
  createdAt: string;
  environment: Record<string, string | number>;
  dataset: Record<string, string | number>;
  split: Record<string, string | number | null>;
  k: number[];
  /** Metrics shown in the table and bar chart (names without @k). */
  tableMetrics: string[];
  tableK: number;
  models: ModelReport[];
  examples: Example[];
  notes: string[];
  /** Means with bootstrap CIs and paired tests against the baseline (from compare), per metric name. */
  significance?: { baseline: string; users: number; resamples: number; rows: { model: string; metrics: Record<string, { value: number; ci: [number, number] | null; diff?: number; pValue?: number }> }[] };
}

const num = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(4));

function table(r: DemoResult): string {
  const cols = r.tableMetrics.map((m) => `${m}@${r.tableK}`);
  const best = new Map(cols.map((c) => [c, Math.max(...r.models.map((m) => m.metrics[c] ?? -Infinity))]));
  const head = `<tr><th>model</th>${cols.map((c) => `<th>${escapeXml(c)}</th>`).join('')}<th>fit (s)</th><th>eval (s)</th></tr>`;
  const rows = r.models
    .map(
      (m) =>
        `<tr><td title="${escapeXml(m.description)}">${escapeXml(m.name)}</td>${cols
          .map((c) => {
            const v = m.metrics[c];
            return `<td class="num${v !== undefined && v === best.get(c) ? ' best' : ''}">${num(v)}</td>`;
          })
          .join('')}<td class="num">${m.fitSeconds.toFixed(2)}</td><td class="num">${m.evalSeconds.toFixed(2)}</td></tr>`,
    )
    .join('\n');
  return `<table>${head}\n${rows}</table>`;
}

function significanceTable(r: DemoResult): string {
  const sig = r.significance;
  if (!sig) return '';
  const cols = r.tableMetrics.filter((m) => m !== 'coverage').map((m) => `${m}@${r.tableK}`);
  const head = `<tr><th>model</th>${cols.map((c) => `<th>${escapeXml(c)}</th>`).join('')}</tr>`;
  const cell = (m: { value: number; ci: [number, number] | null; diff?: number; pValue?: number } | undefined): string => {
    if (!m) return '<td></td>';
    const ci = m.ci ? ` <span class="ci">[${m.ci[0].toFixed(4)}, ${m.ci[1].toFixed(4)}]</span>` : '';
    const d = m.diff !== undefined ? `<div class="diff">Δ ${m.diff >= 0 ? '+' : ''}${m.diff.toFixed(4)}${m.pValue !== undefined ? `, p ${m.pValue < 0.001 ? '< 0.001' : '= ' + m.pValue.toFixed(3)}` : ''}</div>` : '';
    return `<td class="num">${m.value.toFixed(4)}${ci}${d}</td>`;
  };
  const rows = sig.rows.map((row) => `<tr><td>${escapeXml(row.model)}${row.model === sig.baseline ? ' (baseline)' : ''}</td>${cols.map((c) => cell(row.metrics[c])).join('')}</tr>`).join('\n');
  return `<h3>Confidence and significance</h3><p>Mean over ${sig.users} households with a 95% percentile-bootstrap interval (${sig.resamples} paired resamples); Δ is the difference to ${escapeXml(sig.baseline)} with a two-sided paired t-test over households.</p><table>${head}\n${rows}</table>`;
}

function keyValues(o: Record<string, unknown>): string {
  return `<table class="kv">${Object.entries(o)
    .map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(String(v))}</td></tr>`)
    .join('')}</table>`;
}

function itemList(items: ExampleItem[]): string {
  return `<ol>${items
    .map((i) => `<li><b>${escapeXml(i.label)}</b> <span class="id">#${escapeXml(String(i.item))}</span>${i.score !== undefined ? ` <span class="score">${i.score.toFixed(3)}</span>` : ''}${i.why ? `<div class="why">${escapeXml(i.why)}</div>` : ''}</li>`)
    .join('')}</ol>`;
}

/** Render the report as one HTML document. */
export function renderReport(r: DemoResult): string {
  const lossSeries = r.models.filter((m) => m.loss && m.loss.length > 0).map((m) => ({ name: m.name, points: m.loss!.map((l, i) => [i + 1, l] as [number, number]) }));
  const lossChart = lossSeries.length
    ? lineChart(lossSeries, { title: 'Training loss per iteration', xLabel: 'iteration', yLabel: 'loss (objective)' })
    : '<p>No iterative model was trained.</p>';
  const metricsChart = barChart(
    r.tableMetrics.map((m) => `${m}@${r.tableK}`),
    r.models.map((m) => ({ name: m.name, values: r.tableMetrics.map((x) => m.metrics[`${x}@${r.tableK}`] ?? NaN) })),
    { title: `Metrics per model at k = ${r.tableK}`, yLabel: 'value' },
  );
  const recallChart = lineChart(
    r.models.map((m) => ({ name: m.name, points: r.k.map((k) => [k, m.metrics[`recall@${k}`] ?? NaN] as [number, number]) })),
    { title: 'Recall@k', xLabel: 'k (log scale)', yLabel: 'recall', logX: true },
  );
  const examples = r.examples
    .map(
      (e) => `<section class="example"><h3>Household ${escapeXml(String(e.user))}</h3>
<div class="cols"><div><h4>Bought before</h4>${itemList(e.history)}</div>
<div><h4>Bought next (held out)</h4>${itemList(e.heldOut)}</div>
${e.recommendations.map((rec) => `<div><h4>${escapeXml(rec.model)} recommends</h4>${itemList(rec.items)}</div>`).join('\n')}</div></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(r.title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.ci,.diff{color:#777;font-size:.8em}td.best{font-weight:bold;background:#eef7ee}
table.kv th{font-weight:normal;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts svg{max-width:100%;height:auto;border:1px solid #eee}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:1rem}
.example{border-top:1px solid #ddd;margin-top:1rem}ol{padding-left:1.3rem}li{margin:.25rem 0}
.id{color:#999;font-size:.85em}.score{color:#555;font-size:.85em}.why{color:#2a6;font-size:.85em}
</style></head><body>
<h1>${escapeXml(r.title)}</h1>
<p class="sub">Generated ${escapeXml(r.createdAt)} by <code>fastrec demo</code></p>
<h2>Data and split</h2>
<div class="cols"><div>${keyValues(r.dataset)}</div><div>${keyValues(r.split)}</div><div>${keyValues(r.environment)}</div></div>
<h2>Model comparison</h2>
${table(r)}
${r.notes.map((n) => `<p>${escapeXml(n)}</p>`).join('\n')}
${significanceTable(r)}
<div class="charts">
<figure id="loss">${lossChart}</figure>
<figure id="metrics">${metricsChart}</figure>
<figure id="recall">${recallChart}</figure>
</div>
<h2>Example recommendations</h2>
${examples || '<p>No examples.</p>'}
</body></html>
`;
}

/** Write index.html and results.json into `dir`; returns the HTML path. */
export function writeReport(dir: string, r: DemoResult): string {
  mkdirSync(dir, { recursive: true });
  const html = join(dir, 'index.html');
  writeFileSync(html, renderReport(r));
  writeFileSync(join(dir, 'results.json'), JSON.stringify(r, null, 2) + '\n');
  return html;
}
