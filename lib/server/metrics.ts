/**
 * Prometheus text exposition (format 0.0.4) for the service: request counts
 * and latency histograms per route, plus gauges set by the service. Written
 * here rather than pulling prom-client: the service needs a handful of series.
 */

/** Latency bucket upper bounds in seconds (cumulative "le" buckets). */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** One route's series; label text built once, counts kept per bucket (made cumulative when rendered). */
export interface RouteSeries {
  labels: string;
  byStatus: Map<number, number>;
  buckets: number[];
  sum: number;
  count: number;
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export class Metrics {
  private readonly routes = new Map<string, RouteSeries>();
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, { help: string; value: () => number; labels?: Record<string, string> }>();
  private readonly counterFns = new Map<string, { help: string; value: () => number }>();

  /** Count one finished request and its duration (on every request: no string building after a route's first). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.observe(this.series(method, route), status, seconds);
  }

  /** One route's series, made on first use: a caller that always counts the same route keeps it. */
  series(method: string, route: string): RouteSeries {
    const key = method + ' ' + route;
    let r = this.routes.get(key);
    if (!r) {
      r = { labels: `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`, byStatus: new Map(), buckets: new Array<number>(BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.routes.set(key, r);
    }
    return r;
  }

  /** Count one finished request of a route's series (from {@link series}). */
  observe(r: RouteSeries, status: number, seconds: number): void {
    r.byStatus.set(status, (r.byStatus.get(status) ?? 0) + 1);
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]!) b++;
    r.buckets[b]!++;
    r.sum += seconds;
    r.count++;
  }

  /** A counter (name without the _total suffix). */
  inc(name: string, help: string, by = 1): void {
    const c = this.counters.get(name);
    if (c) c.value += by;
    else this.counters.set(name, { help, value: by });
  }

  counter(name: string): number {
    return this.counters.get(name)?.value ?? 0;
  }

  /** A counter kept elsewhere (name without the _total suffix), read when /metrics is scraped. */
  counterFn(name: string, help: string, value: () => number): void {
    this.counterFns.set(name, { help, value });
  }

  /** A gauge read when /metrics is scraped. */
  gauge(name: string, help: string, value: () => number, labels?: Record<string, string>): void {
    this.gauges.set(name, { help, value, labels });
  }

  /** This process's series as plain data (for `serve --workers N`: merged over workers on a scrape). */
  snapshot(worker: string): MetricsSnapshot {
    const routes: RouteSnapshot[] = [];
    for (const [key, r] of this.routes) {
      const sp = key.indexOf(' ');
      routes.push({ method: key.slice(0, sp), route: key.slice(sp + 1), byStatus: [...r.byStatus], buckets: r.buckets.slice(), sum: r.sum, count: r.count });
    }
    const counters: MetricsSnapshot['counters'] = [];
    for (const [name, c] of this.counters) counters.push({ name, help: c.help, value: c.value });
    for (const [name, c] of this.counterFns) counters.push({ name, help: c.help, value: c.value() });
    const gauges: MetricsSnapshot['gauges'] = [];
    for (const [name, g] of this.gauges) gauges.push({ name, help: g.help, value: g.value(), ...(g.labels ? { labels: g.labels } : {}) });
    return { worker, routes, counters, gauges };
  }

  render(): string {
    return renderMetrics([this.snapshot('')], false);
  }
}

export interface RouteSnapshot {
  method: string;
  route: string;
  byStatus: [status: number, count: number][];
  /** Requests per latency bucket (not cumulative), BUCKETS.length + 1 entries (the last: above every bound). */
  buckets: number[];
  sum: number;
  count: number;
}

/** One process's metrics as structured-clone/JSON-safe data (a NaN gauge crosses JSON as null). */
export interface MetricsSnapshot {
  worker: string;
  routes: RouteSnapshot[];
  counters: { name: string; help: string; value: number }[];
  gauges: { name: string; help: string; value: number | null; labels?: Record<string, string> }[];
}

const labelText = (labels: Record<string, string>): string => Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');

/**
 * The Prometheus text for one or several processes' snapshots: request counts,
 * histogram buckets, sums and counters are added up over the processes (each
 * saw its own share of the requests); gauges describe one process each (its
 * model, its cache), so with `perWorker` each gets a worker="<id>" label
 * instead of being summed, plus fastrec_workers (processes in the scrape) and
 * fastrec_workers_missing (processes that did not answer in time: their share
 * is absent from the sums). `retired`: the counts of processes that exited
 * (added to the sums, so that counters never go down when a worker is replaced).
 */
export function renderMetrics(snapshots: MetricsSnapshot[], perWorker: boolean, missing = 0, retired?: MetricsSnapshot): string {
  const total = sumCounts(retired ? [...snapshots, retired] : snapshots);
  const out: string[] = [];
  out.push('# HELP fastrec_http_requests_total HTTP requests by method, route and status code.');
  out.push('# TYPE fastrec_http_requests_total counter');
  const routeLabels = total.routes.map((r) => `method="${escapeLabel(r.method)}",route="${escapeLabel(r.route)}"`);
  total.routes.forEach((r, n) => {
    for (const [status, v] of r.byStatus) out.push(`fastrec_http_requests_total{${routeLabels[n]},status="${status}"} ${v}`);
  });
  out.push('# HELP fastrec_http_request_duration_seconds HTTP request latency.');
  out.push('# TYPE fastrec_http_request_duration_seconds histogram');
  total.routes.forEach((r, n) => {
    const labels = routeLabels[n];
    let cumulative = 0;
    BUCKETS.forEach((b, i) => {
      cumulative += r.buckets[i] ?? 0;
      out.push(`fastrec_http_request_duration_seconds_bucket{${labels},le="${b}"} ${cumulative}`);
    });
    out.push(`fastrec_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${r.count}`);
    out.push(`fastrec_http_request_duration_seconds_sum{${labels}} ${r.sum}`);
    out.push(`fastrec_http_request_duration_seconds_count{${labels}} ${r.count}`);
  });
  for (const c of total.counters) out.push(`# HELP ${c.name}_total ${c.help}`, `# TYPE ${c.name}_total counter`, `${c.name}_total ${c.value}`);
  // Gauges grouped by name (one HELP/TYPE each), one series per process when perWorker.
  const gauges = new Map<string, { help: string; lines: string[] }>();
  const ordered = perWorker ? [...snapshots].sort((a, b) => a.worker.localeCompare(b.worker, 'en', { numeric: true })) : snapshots;
  for (const s of ordered) {
    for (const g of s.gauges) {
      let m = gauges.get(g.name);
      if (!m) gauges.set(g.name, (m = { help: g.help, lines: [] }));
      const labels = labelText({ ...(perWorker ? { worker: s.worker } : {}), ...(g.labels ?? {}) });
      m.lines.push(`${g.name}${labels ? `{${labels}}` : ''} ${g.value ?? NaN}`);
    }
  }
  if (perWorker) {
    gauges.set('fastrec_workers', { help: 'Worker processes whose series this scrape adds up.', lines: [`fastrec_workers ${snapshots.length}`] });
    gauges.set('fastrec_workers_missing', { help: 'Worker processes that did not answer this scrape in time (their counts are missing).', lines: [`fastrec_workers_missing ${missing}`] });
  }
  for (const [name, g] of gauges) out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, ...g.lines);
  return out.join('\n') + '\n';
}

/** The counts (requests, histograms, counters; no gauges) of several snapshots added up, in first-seen order. */
export function sumCounts(snapshots: MetricsSnapshot[]): MetricsSnapshot {
  const routes = new Map<string, RouteSnapshot>();
  const counters = new Map<string, MetricsSnapshot['counters'][number]>();
  for (const s of snapshots) {
    for (const r of s.routes) {
      const key = r.method + ' ' + r.route;
      const m = routes.get(key);
      if (!m) {
        routes.set(key, { ...r, byStatus: r.byStatus.map(([k, v]) => [k, v]), buckets: r.buckets.slice() });
        continue;
      }
      for (const [status, v] of r.byStatus) {
        const e = m.byStatus.find(([k]) => k === status);
        if (e) e[1] += v;
        else m.byStatus.push([status, v]);
      }
      r.buckets.forEach((v, i) => (m.buckets[i] = (m.buckets[i] ?? 0) + v));
      m.sum += r.sum;
      m.count += r.count;
    }
    for (const c of s.counters) {
      const m = counters.get(c.name);
      if (m) m.value += c.value;
      else counters.set(c.name, { ...c });
    }
  }
  return { worker: 'sum', routes: [...routes.values()], counters: [...counters.values()], gauges: [] };
}
