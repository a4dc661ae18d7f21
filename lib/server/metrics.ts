/**
 * Prometheus text exposition (format 0.0.4) for the service: request counts
 * and latency histograms per route, plus gauges set by the service. Written
 * here rather than pulling prom-client: the service needs a handful of series.
 */

/** Latency bucket upper bounds in seconds (cumulative "le" buckets). */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** One route's series; label text built once, counts kept per bucket (made cumulative when rendered). */
interface RouteSeries {
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
    const key = method + ' ' + route;
    let r = this.routes.get(key);
    if (!r) {
      r = { labels: `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`, byStatus: new Map(), buckets: new Array<number>(BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.routes.set(key, r);
    }
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

  render(): string {
    const out: string[] = [];
    out.push('# HELP fastrec_http_requests_total HTTP requests by method, route and status code.');
    out.push('# TYPE fastrec_http_requests_total counter');
    for (const r of this.routes.values()) for (const [status, v] of r.byStatus) out.push(`fastrec_http_requests_total{${r.labels},status="${status}"} ${v}`);
    out.push('# HELP fastrec_http_request_duration_seconds HTTP request latency.');
    out.push('# TYPE fastrec_http_request_duration_seconds histogram');
    for (const r of this.routes.values()) {
      let cumulative = 0;
      BUCKETS.forEach((b, i) => {
        cumulative += r.buckets[i]!;
        out.push(`fastrec_http_request_duration_seconds_bucket{${r.labels},le="${b}"} ${cumulative}`);
      });
      out.push(`fastrec_http_request_duration_seconds_bucket{${r.labels},le="+Inf"} ${r.count}`);
      out.push(`fastrec_http_request_duration_seconds_sum{${r.labels}} ${r.sum}`);
      out.push(`fastrec_http_request_duration_seconds_count{${r.labels}} ${r.count}`);
    }
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name}_total ${c.help}`, `# TYPE ${name}_total counter`, `${name}_total ${c.value}`);
    }
    for (const [name, c] of this.counterFns) {
      out.push(`# HELP ${name}_total ${c.help}`, `# TYPE ${name}_total counter`, `${name}_total ${c.value()}`);
    }
    for (const [name, g] of this.gauges) {
      const labels = g.labels ? `{${Object.entries(g.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name}${labels} ${g.value()}`);
    }
    return out.join('\n') + '\n';
  }
}
