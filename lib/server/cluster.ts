/**
 * How the processes of `fastrec serve --workers N` talk to each other.
 *
 * Workers never talk directly: each has an IPC channel to the cluster
 * primary only. Two kinds of traffic go through it:
 *
 * - broadcasts: events accepted by one worker are passed to every other one
 *   (fire and forget: the live histories are the same everywhere);
 * - asks: a worker asks every OTHER worker something and waits for all the
 *   answers (its own share it computes itself). The primary fans the ask out,
 *   collects one answer per worker, and answers for a worker that exits or
 *   stays silent past the ask's time limit (ok: false, with the reason), so an
 *   ask always completes. Asks are the scrape of /metrics (every worker's
 *   series) and the two phases of a reload (prepare: load the file; commit:
 *   swap it in; or abort).
 *
 * The primary lets one reload run at a time over the whole service: a prepare
 * while another reload is between prepare and commit/abort is refused, so two
 * reloads sent to two workers cannot leave them serving different files.
 */
import type { Id } from '../data/idmap.js';
import { sumCounts, type MetricsSnapshot } from './metrics.js';

/** What a worker asks the others for. */
export type PeerAsk =
  /** snapshot: the asker's own series (the primary keeps each worker's latest, see PeerRouter.retired) */
  | { op: 'metrics'; snapshot?: MetricsSnapshot }
  | { op: 'prepare'; reload: string; path: string }
  | { op: 'commit'; reload: string; path: string }
  | { op: 'abort'; reload: string };

/** One worker's answer to an ask (value: what the ask returns; error: why not). */
export interface PeerAnswer {
  worker: string;
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface PeerEvent {
  user: Id;
  item: Id;
  value: number;
}

/** Messages on the IPC channels (JSON-serializable: NaN becomes null). */
export type PeerMessage =
  /** worker -> primary -> every other worker */
  | { type: 'fastrec:events'; events: PeerEvent[] }
  /** worker -> primary: ask every other worker */
  | { type: 'fastrec:ask'; id: number; ask: PeerAsk }
  /** primary -> worker: answer this (with a fastrec:reply of the same id) */
  | { type: 'fastrec:query'; id: number; ask: PeerAsk }
  /** worker -> primary */
  | { type: 'fastrec:reply'; id: number; ok: boolean; value?: unknown; error?: string }
  /** primary -> asking worker: one answer per other worker, or why the ask was refused; for metrics, the exited workers' counts */
  | { type: 'fastrec:answers'; id: number; answers: PeerAnswer[]; refused?: string; retired?: MetricsSnapshot };

/** A worker's end of its channel to the primary. */
export interface PeerLink {
  /** This worker's name in answers and metric labels (the cluster worker id). */
  id: string;
  send(message: PeerMessage): void;
  onMessage(handler: (message: PeerMessage) => void): void;
}

/** Time limits of asks, in milliseconds: a worker that does not answer in time counts as failed. */
export interface AskLimits {
  metrics: number;
  /** Loading a model file, possibly building its HNSW indexes (serve --ann): can take a while. */
  prepare: number;
  commit: number;
  abort: number;
}

export const DEFAULT_ASK_LIMITS: AskLimits = { metrics: 2_000, prepare: 300_000, commit: 10_000, abort: 10_000 };

/** The primary's handle on one worker. */
export interface WorkerPort {
  id: string;
  send(message: PeerMessage): void;
}

interface PendingAsk {
  op: PeerAsk['op'];
  asker: string;
  askerId: number;
  waiting: Set<string>;
  answers: PeerAnswer[];
  timer: ReturnType<typeof setTimeout>;
}

/** The primary's side: relays broadcasts, fans asks out and gathers the answers. */
export class PeerRouter {
  private readonly workers = new Map<string, WorkerPort>();
  private readonly pending = new Map<number, PendingAsk>();
  private nextId = 1;
  /** The reload between its prepare and its commit/abort, and the worker running it. */
  private reload: { id: string; worker: string } | undefined;
  /** The model file the last committed reload swapped in (a replacement worker starts from it). */
  modelPath: string | undefined;
  /**
   * Each live worker's series at the last scrape, and the sum of those of
   * workers that exited: scrapes add the latter in, so the service's counters
   * never go down when a worker is replaced (what it counted after the last
   * scrape before it died is lost).
   */
  private readonly lastMetrics = new Map<string, MetricsSnapshot>();
  /** Starts with the restart counter at 0, so that series exists from the first scrape. */
  private retired: MetricsSnapshot = restarts(0);

  constructor(private readonly limits: AskLimits = DEFAULT_ASK_LIMITS) {}

  /**
   * A worker ready to answer (listening: it has loaded `startedWith`). Asks
   * go only to ready workers, so a worker still loading cannot stall them. If
   * a reload was committed while it started, it is told to catch up.
   */
  add(port: WorkerPort, startedWith?: string): void {
    this.workers.set(port.id, port);
    if (this.modelPath !== undefined && startedWith !== this.modelPath) {
      port.send({ type: 'fastrec:query', id: this.nextId++, ask: { op: 'commit', reload: 'catch-up', path: this.modelPath } });
    }
  }

  /** A worker exited: it answers nothing more, and what it was running is over. `replaced`: it died unasked and a new one starts. */
  remove(id: string, replaced = false): void {
    this.workers.delete(id);
    const last = this.lastMetrics.get(id);
    if (last) this.retired = sumCounts([this.retired, last]);
    if (replaced) this.retired = sumCounts([this.retired, restarts(1)]);
    this.lastMetrics.delete(id);
    if (this.reload?.worker === id) {
      // Its reload will never be committed: the others drop what they prepared (their replies are ignored).
      const abort: PeerAsk = { op: 'abort', reload: this.reload.id };
      for (const w of this.workers.values()) w.send({ type: 'fastrec:query', id: this.nextId++, ask: abort });
      this.reload = undefined;
    }
    for (const [qid, p] of this.pending) {
      if (p.asker === id) {
        clearTimeout(p.timer);
        this.pending.delete(qid);
      } else if (p.waiting.has(id)) {
        this.answer(qid, { worker: id, ok: false, error: 'the worker exited before answering' });
      }
    }
  }

  receive(from: string, m: PeerMessage): void {
    if (m?.type === 'fastrec:events') {
      for (const [id, w] of this.workers) if (id !== from) w.send(m);
    } else if (m?.type === 'fastrec:ask') {
      this.ask(from, m.id, m.ask);
    } else if (m?.type === 'fastrec:reply') {
      const { ok, value, error } = m;
      if (this.pending.get(m.id)?.waiting.has(from)) this.answer(m.id, { worker: from, ok, ...(ok ? { value } : { error: error ?? 'failed' }) });
    }
  }

  private ask(from: string, askerId: number, ask: PeerAsk): void {
    const refuse = (why: string): void => this.workers.get(from)?.send({ type: 'fastrec:answers', id: askerId, answers: [], refused: why });
    if (ask.op === 'prepare') {
      if (this.reload && this.reload.id !== ask.reload) return refuse('another reload is in progress');
      this.reload = { id: ask.reload, worker: from };
    } else if (ask.op === 'commit' || ask.op === 'abort') {
      if (this.reload?.id === ask.reload) this.reload = undefined;
      if (ask.op === 'commit') this.modelPath = ask.path;
    } else if (ask.op === 'metrics' && ask.snapshot) {
      this.lastMetrics.set(from, ask.snapshot);
      ask = { op: 'metrics' }; // the others need not see it
    }
    const qid = this.nextId++;
    const targets = [...this.workers.keys()].filter((id) => id !== from);
    const p: PendingAsk = {
      op: ask.op,
      asker: from,
      askerId,
      waiting: new Set(targets),
      answers: [],
      timer: setTimeout(() => {
        for (const id of [...p.waiting]) this.answer(qid, { worker: id, ok: false, error: `no answer within ${this.limits[ask.op] / 1000} s` });
      }, this.limits[ask.op]),
    };
    p.timer.unref?.();
    this.pending.set(qid, p);
    if (targets.length === 0) return this.finish(qid);
    for (const id of targets) this.workers.get(id)!.send({ type: 'fastrec:query', id: qid, ask });
  }

  private answer(qid: number, a: PeerAnswer): void {
    const p = this.pending.get(qid);
    if (!p || !p.waiting.delete(a.worker)) return;
    if (p.op === 'metrics' && a.ok && a.value) this.lastMetrics.set(a.worker, a.value as MetricsSnapshot);
    p.answers.push(a);
    if (p.waiting.size === 0) this.finish(qid);
  }

  private finish(qid: number): void {
    const p = this.pending.get(qid)!;
    clearTimeout(p.timer);
    this.pending.delete(qid);
    p.answers.sort((a, b) => a.worker.localeCompare(b.worker, 'en', { numeric: true }));
    const retired = p.op === 'metrics' ? { retired: this.retired } : {};
    this.workers.get(p.asker)?.send({ type: 'fastrec:answers', id: p.askerId, answers: p.answers, ...retired });
  }
}

/** A snapshot holding only the count of workers replaced after dying (summed into every scrape like a retired worker's counts). */
function restarts(value: number): MetricsSnapshot {
  return { worker: '', routes: [], counters: [{ name: 'fastrec_worker_restarts', help: 'Workers that exited unasked and were replaced.', value }], gauges: [] };
}

export interface AskResult {
  answers: PeerAnswer[];
  refused?: string;
  retired?: MetricsSnapshot;
}

/** The worker's side: broadcasts and asks out, answers to the primary's queries back. */
export class PeerClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: AskResult) => void>();

  constructor(
    readonly link: PeerLink,
    handlers: { events(events: PeerEvent[]): void; answer(ask: PeerAsk): unknown },
  ) {
    link.onMessage((m) => {
      if (m?.type === 'fastrec:events') {
        handlers.events(m.events);
      } else if (m?.type === 'fastrec:answers') {
        const resolve = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        resolve?.({ answers: m.answers, ...(m.refused ? { refused: m.refused } : {}), ...(m.retired ? { retired: m.retired } : {}) });
      } else if (m?.type === 'fastrec:query') {
        const id = m.id;
        Promise.resolve()
          .then(() => handlers.answer(m.ask))
          .then(
            (value) => link.send({ type: 'fastrec:reply', id, ok: true, value }),
            (err: unknown) => link.send({ type: 'fastrec:reply', id, ok: false, error: err instanceof Error ? err.message : String(err) }),
          );
      }
    });
  }

  get id(): string {
    return this.link.id;
  }

  broadcast(events: PeerEvent[]): void {
    this.link.send({ type: 'fastrec:events', events });
  }

  /**
   * Ask every other worker; resolves with their answers once all answered or
   * failed (the primary bounds the wait; past that bound plus a margin, the
   * primary itself is taken as gone and the ask is refused).
   */
  ask(ask: PeerAsk): Promise<AskResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ answers: [], refused: 'the cluster primary did not answer' });
      }, DEFAULT_ASK_LIMITS[ask.op] + 5_000);
      timer.unref?.();
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.link.send({ type: 'fastrec:ask', id, ask });
    });
  }
}

/** "worker 2: reason; worker 3: reason" */
export function describeFailures(answers: PeerAnswer[]): string {
  return answers
    .filter((a) => !a.ok)
    .map((a) => `worker ${a.worker}: ${a.error}`)
    .join('; ');
}
