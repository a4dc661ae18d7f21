/**
 * `fastrec serve <model>`: the HTTP service, in one process or, with
 * --workers N, in N processes (node:cluster) sharing one port.
 */
import cluster from 'node:cluster';
import { buildServer, serve, MIN_TOKEN_LENGTH } from '../server/app.js';
import { PeerRouter, type PeerLink, type PeerMessage } from '../server/cluster.js';
import { SERVING_STORAGE } from '../server/model.js';
import { intOption, parse, UsageError } from './util.js';

export const SERVE_USAGE = `Usage: fastrec serve <model.fastrec> [--port 8080] [--host 127.0.0.1] [--token TOKEN]
                     [--max-k 1000] [--body-limit BYTES] [--log-level info] [--log-requests]
                     [--ann [--ef 64] [--ann-storage float16|int8|float32] [--ann-copy]] [--cache USERS] [--workers N]

Serves recommendations over HTTP (JSON). Write and admin endpoints (POST /v1/events,
POST /v1/admin/reload) need a bearer token of at least ${MIN_TOKEN_LENGTH} characters, from --token or the
FASTREC_TOKEN environment variable; without one they answer 403.
--ann answers known users' top-k and similar items through HNSW indexes over the item factors
(factor models such as als; approximate; --ef trades recall for speed). The indexes stored in the
model file (fastrec train --ann) are searched where the file is mapped (shared by every worker),
or with --ann-copy copied into each process's memory on huge pages (faster searches in one
process); without stored indexes they are built at start-up and on reload, their vectors stored as
--ann-storage (default float16; int8: a byte per coordinate, 22% smaller; candidates are re-scored exactly).
--cache USERS keeps the answers (the bytes sent) of up to USERS users' recent requests, by exact
URL; a repeated URL is answered before any routing. A user's entries are dropped when their events
arrive and all are dropped on reload (hits and misses on /metrics).
--workers N runs N processes on the same port (the model file is memory-mapped: they share its
pages). Events sent to one worker reach every worker; a reload answers once every worker serves
the new model (or none does, and the answer names the worker that failed); /metrics adds up the
counts of every worker (gauges get a worker label).
Logs are JSON lines (pino): start-up, reloads, errors; --log-requests adds one line per request.
Stop with Ctrl-C or SIGTERM: in-flight requests finish first.`;

export async function runServe(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'max-k': { type: 'string' },
      'body-limit': { type: 'string' },
      'log-level': { type: 'string' },
      ann: { type: 'boolean', default: false },
      'log-requests': { type: 'boolean', default: false },
      ef: { type: 'string' },
      'ann-storage': { type: 'string' },
      'ann-copy': { type: 'boolean', default: false },
      cache: { type: 'string' },
      workers: { type: 'string' },
    },
    SERVE_USAGE,
  );
  if (values.help) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one model file', SERVE_USAGE);
  const port = intOption(values, 'port', 8080, 0, 65535, SERVE_USAGE);
  const maxK = intOption(values, 'max-k', 1000, 1, 100_000, SERVE_USAGE);
  const bodyLimit = intOption(values, 'body-limit', 1 << 20, 1024, 1 << 30, SERVE_USAGE);
  const cacheUsers = intOption(values, 'cache', 0, 0, 100_000_000, SERVE_USAGE);
  const workers = intOption(values, 'workers', 1, 1, 256, SERVE_USAGE);
  const level = String(values['log-level'] ?? 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent`, SERVE_USAGE);
  const token = (values.token as string | undefined) ?? process.env.FASTREC_TOKEN;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(`the token must have at least ${MIN_TOKEN_LENGTH} characters; generate one with: openssl rand -hex 24`, SERVE_USAGE);
  }
  const storage = String(values['ann-storage'] ?? SERVING_STORAGE);
  if (storage !== 'float16' && storage !== 'float32' && storage !== 'int8') throw new UsageError(`--ann-storage must be float16, float32 or int8, got ${JSON.stringify(storage)}`, SERVE_USAGE);
  if (!values.ann && (values.ef !== undefined || values['ann-storage'] !== undefined || values['ann-copy'])) throw new UsageError('--ef, --ann-storage and --ann-copy apply only with --ann', SERVE_USAGE);
  const ann = values.ann ? { ef: intOption(values, 'ef', 64, 1, 10_000, SERVE_USAGE), storage: storage as 'float16' | 'float32' | 'int8', copy: values['ann-copy'] === true } : false;
  const host = String(values.host ?? '127.0.0.1');

  if (workers > 1 && cluster.isPrimary) return runPrimary(workers, level);

  const peers = cluster.isWorker ? workerLink() : undefined;
  let app;
  try {
    // A worker started after a reload serves the reloaded file (the primary passes it on).
    const modelPath = (cluster.isWorker && process.env.FASTREC_WORKER_MODEL) || positionals[0]!;
    app = await buildServer({ modelPath, token, maxK, bodyLimit, logger: { level }, ann, cacheUsers, logRequests: values['log-requests'] === true, ...(peers ? { peers } : {}) });
  } catch (err) {
    // Let a worker exit with the error's code once it is printed (its IPC channel would keep it alive).
    if (cluster.isWorker) setImmediate(() => process.exit());
    throw err;
  }
  if (!token && !cluster.isWorker) app.log.warn('no token given (--token or FASTREC_TOKEN): POST /v1/events and /v1/admin/reload are disabled');
  await serve(app, port, host);
  if (cluster.isWorker) {
    // The primary went away (killed): stop rather than serve on unsupervised.
    process.once('disconnect', () => void app.close().then(() => process.exit(0)));
  }
  // Keep running until a signal closes the server.
  await new Promise<void>((resolve) => app.server.once('close', () => resolve()));
  return 0;
}

/** A worker talks to its peers through the primary (lib/server/cluster.ts). */
function workerLink(): PeerLink {
  return {
    id: String(cluster.worker!.id),
    send: (m) => process.send?.(m),
    onMessage: (handler) => process.on('message', (m: PeerMessage) => handler(m)),
  };
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
let logThreshold = 30;

/** One JSON log line from the primary (the workers log through pino in the same shape and levels). */
function log(level: number, msg: string, extra: Record<string, unknown> = {}): void {
  if (level < logThreshold) return;
  process.stderr.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...extra }) + '\n');
}

/**
 * The cluster primary: forks the workers (each re-runs this command and
 * listens on the shared port), routes events, reloads and metric scrapes
 * between them (PeerRouter),
 * replaces a worker that dies, and stops them all on SIGINT/SIGTERM.
 */
async function runPrimary(n: number, level: string): Promise<number> {
  logThreshold = LEVELS[level] ?? 30;
  let stopping = false;
  let started = 0;
  const router = new PeerRouter();
  const fork = (): void => {
    const startedWith = router.modelPath;
    const w = cluster.fork(startedWith ? { FASTREC_WORKER_MODEL: startedWith } : {});
    const id = String(w.id);
    w.on('message', (m: PeerMessage) => router.receive(id, m));
    w.once('listening', () => {
      router.add({ id, send: (m: PeerMessage) => void (w.isConnected() && w.send(m)) }, startedWith);
      started++;
      if (started === n) log(30, `all ${n} workers listening`);
    });
  };
  let failCode: number | undefined;
  return new Promise<number>((resolve) => {
    cluster.on('exit', (w, code, signal) => {
      router.remove(String(w.id), !stopping && started >= n);
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve(failCode ?? 0);
        return;
      }
      if (started < n) {
        // A worker failed at start-up (bad model file, port in use...): it printed why; stop the rest.
        stopping = true;
        failCode = typeof code === 'number' && code !== 0 ? code : 1;
        log(50, `a worker failed to start (exit code ${code ?? signal}); stopping`);
        const rest = Object.values(cluster.workers ?? {});
        if (rest.length === 0) resolve(failCode);
        for (const other of rest) other?.process.kill('SIGTERM');
        return;
      }
      log(40, `worker ${w.process.pid} exited (${code ?? signal}); starting a replacement`);
      started--;
      fork();
    });
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log(30, 'shutting down', { signal });
      const live = Object.values(cluster.workers ?? {});
      if (live.length === 0) resolve(0);
      for (const w of live) w?.process.kill('SIGTERM');
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    for (let i = 0; i < n; i++) fork();
  });
}
