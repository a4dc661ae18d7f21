// Load benchmark of `fastrec serve`: throughput and latency percentiles at 1,
// 16 and 64 concurrent connections against a 100,000-item ALS model, with
// autocannon on loopback, bounded duration per run, for several serving
// configurations in ONE run (so they share the machine's state).
//
//   node bench/server.mjs [--items 100000] [--users 50000] [--factors 64] [--duration 5]
//                         [--connections 1,16,64] [--configs "exact;ann;ann:ef=16;ann:workers=2;ann:cache=10000;ann:workers=2:cache=10000"]
//                         [--data taste|random] [--iterations N] [--clusters 200] [--cache-warmup 5]
//                         [--model PATH] [--out server] [--no-write]   (--no-write: print the runs, write no JSON)
//                         [--endpoints users,healthz,similar,post]   (which load runs; default all; similar and post
//                         run only for configs without the cache)
//
// A configuration is `exact` or `ann` followed by `:key=value` settings:
// ef (search beam), index (stored: the model file written with the serving
// indexes, as `fastrec train --ann` does, the default; built: a file without
// them, so serve builds them at start-up), storage (float16|float32, for built
// indexes), workers (serve --workers), cache (serve --cache USERS). Each gets
// its own `fastrec serve` process.
//
// Users requested: with the cache off, a permutation of all users (every
// request is a different user until all were asked: live scoring every time).
// With the cache on, users are drawn from a Zipf(1) law over the users (a few
// users come back often, most rarely), the cache is warmed with the same
// stream first (--cache-warmup seconds), and the hit rate measured on the
// server's /metrics during each run is reported beside every cache-on figure.
//
// The model (--data): `taste` (default), ALS trained to convergence on
// interactions with planted taste structure (genres, power-law popularity), or
// `random`, the earlier worst case: 2 ALS iterations on unstructured data. The
// server runs in its own process(es) (like production); autocannon runs in
// this one, with every request prebuilt (see run()). All share this machine's cores.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
// A benchmark-only tool: installed in bench/node_modules by `npm run bench:setup`.
const autocannon = createRequire(new URL('./package.json', import.meta.url))('autocannon');
import { rng, writeResult, benchDir, medianSeconds } from './harness.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]] : acc), []),
);
const nItems = Number(args.items ?? 100_000);
const nUsers = Number(args.users ?? 50_000);
const factors = Number(args.factors ?? 64);
const duration = Number(args.duration ?? 5);
const connectionsList = String(args.connections ?? '1,16,64').split(',').map(Number);
const cacheWarmup = Number(args['cache-warmup'] ?? 5);
const endpoints = new Set(String(args.endpoints ?? 'users,healthz,similar,post').split(','));
for (const e of endpoints) if (!['users', 'healthz', 'similar', 'post'].includes(e)) throw new Error(`--endpoints: unknown ${e}`);
const loadAverageAtStart = loadavg().map((x) => +x.toFixed(2));
// `--ann` alone (the older command line) means the HNSW configuration only.
const configs = String(args.configs ?? (args.ann === 'true' ? 'ann' : 'exact;ann;ann:ef=16;ann:workers=2;ann:cache=10000;ann:workers=2:cache=10000'))
  .split(';')
  .filter(Boolean)
  .map(parseConfig);
const fastrec = await import('../dist/index.js');

function parseConfig(text) {
  const [scoring, ...settings] = text.split(':');
  if (scoring !== 'exact' && scoring !== 'ann') throw new Error(`config ${text}: expected exact or ann first`);
  const c = { name: text, scoring, ef: undefined, storage: undefined, workers: 1, cache: 0, index: 'stored' };
  for (const s of settings) {
    const [k, v] = s.split('=');
    if (k === 'ef' || k === 'workers' || k === 'cache') c[k] = Number(v);
    else if (k === 'storage') c.storage = v;
    else if (k === 'index' && (v === 'stored' || v === 'built')) c.index = v;
    else throw new Error(`config ${text}: unknown setting ${k}`);
  }
  return c;
}

// ---- the model ----
// `--data taste` (default): interactions with planted taste structure, as real
// catalogues have: items belong to one of `clusters` genres, each user likes
// 1-3 genres (genre popularity itself a power law), 80% of a user's events
// fall in their genres (item by within-genre popularity: rank = size * r^3), 20%
// on globally popular items; ALS trained to convergence (15 iterations).
// `--data random` (the earlier worst case): 20 events per user on power-law
// popular items with no taste structure, ALS 2 iterations (nearly random
// factors: HNSW needs a wide beam for modest recall).
const data = args.data === 'random' ? 'random' : 'taste';
const alsIterations = Number(args.iterations ?? (data === 'random' ? 2 : 15));
const clusters = Number(args.clusters ?? 200);
function randomLog() {
  const rand = rng(7);
  const perUser = 20;
  const log = new fastrec.Interactions();
  for (let u = 0; u < nUsers; u++) {
    for (let j = 0; j < perUser; j++) {
      // Zipf-like popularity: item = floor(n * r^3) puts most events on few items, yet touches the whole catalog.
      log.add(`u${u}`, `i${j === 0 ? (u * 7919) % nItems : Math.floor(nItems * rand() ** 3)}`);
    }
  }
  for (let i = 0; i < nItems; i++) log.add('u0', `i${i}`); // every item known
  return log;
}
function tasteLog() {
  const rand = rng(7);
  const log = new fastrec.Interactions();
  // Item i is in genre i % clusters; its rank inside the genre is floor(i / clusters) (lower = more popular).
  const perGenre = Math.ceil(nItems / clusters);
  const genreItem = (g, rank) => g + clusters * Math.min(rank, Math.floor((nItems - 1 - g) / clusters));
  const fans = Array.from({ length: clusters }, () => []);
  for (let u = 0; u < nUsers; u++) {
    const liked = [];
    const n = 1 + Math.floor(rand() * 3);
    for (let j = 0; j < n; j++) liked.push(Math.floor(clusters * rand() ** 2)); // popular genres more often
    for (const g of liked) fans[g].push(u);
    const events = 10 + Math.floor(rand() * 21); // 10..30
    for (let e = 0; e < events; e++) {
      let item;
      if (rand() < 0.8) {
        const g = liked[Math.floor(rand() * liked.length)];
        item = genreItem(g, Math.floor(perGenre * rand() ** 3));
      } else {
        item = Math.floor(nItems * rand() ** 4);
      }
      log.add(`u${u}`, `i${item}`, 1);
    }
  }
  // Every item known: one event from a fan of its genre (or any user if the genre has none).
  for (let i = 0; i < nItems; i++) {
    const f = fans[i % clusters];
    log.add(`u${f.length ? f[Math.floor(rand() * f.length)] : Math.floor(rand() * nUsers)}`, `i${i}`, 1);
  }
  return log;
}
const dir = mkdtempSync(join(tmpdir(), 'fastrec-bench-server-'));
const modelPath = args.model ?? join(dir, 'model.fastrec');
/** The same model with the serving indexes stored in the file. */
const indexedPath = modelPath.replace(/\.fastrec$/, '') + '-indexed.fastrec';
let indexBuildSeconds = null;
if (!args.model || !existsSync(modelPath) || !existsSync(indexedPath)) {
  const log = data === 'random' ? randomLog() : tasteLog();
  const t0 = performance.now();
  const ds = await fastrec.Dataset.build(log);
  const model = new fastrec.AlsModel({ factors, iterations: alsIterations });
  await model.fit(ds, { seed: 1 });
  await fastrec.saveModel(model, modelPath);
  console.log(`model (${data} data): ${ds.numUsers} users x ${ds.numItems} items, ${ds.matrix.nnz ?? ''} events, ${factors} factors, ${alsIterations} ALS iterations (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const t1 = performance.now();
  const indexes = await fastrec.buildServingIndexes(model);
  indexBuildSeconds = +((performance.now() - t1) / 1000).toFixed(1);
  await fastrec.saveModel(model, indexedPath, { indexes });
  console.log(`serving indexes built in ${indexBuildSeconds} s`);
}
const storedIndexes = fastrec.inspectModelFile(indexedPath).sections.filter((s) => s.name.startsWith('index:')).map((s) => `${s.name} (${(s.byteLength / 2 ** 20).toFixed(1)} MiB)`);

// ---- loading the model file (median of 5, after one warm-up that fills the page cache) ----
const load = {};
for (const [name, o] of [['mmap, no CRC', { mmap: true, verify: false }], ['mmap + CRC', { mmap: true, verify: true }], ['read + CRC', { mmap: false, verify: true }]]) {
  load[name] = +(1000 * (await medianSeconds(() => fastrec.readModelFile(modelPath, o), 5, 1))).toFixed(2);
}
load['loadModel (mmap + CRC + fromState)'] = +(1000 * (await medianSeconds(() => fastrec.loadModel(modelPath), 5, 1))).toFixed(2);
const fileMiB = +(statSync(modelPath).size / 2 ** 20).toFixed(1);
const indexedFileMiB = +(statSync(indexedPath).size / 2 ** 20).toFixed(1);
console.log(`model file ${fileMiB} MiB, with the serving indexes ${indexedFileMiB} MiB (${storedIndexes.join(', ')}); load ms:`, load);

// ---- in process: what one request's scoring costs, and the recall it gives ----
// The floor under the HTTP figures: the whole scoring step of the route (id
// lookup, user vector, seen items, AnnScorer: the exact scan by decreasing norm,
// else the graph; id mapping) and its recall@10 against exact top-10 per ef;
// the same with the graph alone (graphOnly: AnnScorer normScan false), and its
// native HNSW search by itself (the query and the user's seen-item deny list
// prepared beforehand); exact scoring of every item.
const inProcess = await (async () => {
  const { loadServedModel, annRecommend } = await import('../dist/server/model.js');
  const served = await loadServedModel(indexedPath, { ef: 64 });
  const { scorer, similar } = served.ann;
  // The same index without the exact scan by decreasing norm (AnnScorer normScan): the graph alone.
  const itemBias = served.model.itemBias ?? undefined;
  const graphOnly = fastrec.AnnScorer.fromIndex(scorer.index, served.model.itemFactors, factors, { ...(itemBias ? { itemBias } : {}), normScan: false });
  const withScorer = (s, fn) => {
    served.ann.scorer = s;
    try {
      return fn();
    } finally {
      served.ann.scorer = scorer;
    }
  };
  const ids = Array.from({ length: 4000 }, (_, n) => `u${(n * 2654435761) % nUsers}`);
  const truthUsers = ids.slice(0, 300).map((u) => new Set(served.model.recommend(u, { k: 10 }).items));
  const itemIds = Array.from({ length: 300 }, (_, n) => `i${(n * 40503) % nItems}`);
  const truthItems = itemIds.map((i) => new Set(served.model.similarItems(i, 10).items));
  const perCallUs = (fn, n) => {
    const times = [];
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) fn(i);
      times.push(((performance.now() - t0) * 1000) / n);
    }
    return +times.sort((a, b) => a - b)[1].toFixed(1);
  };
  // Native search inputs, as the route builds them.
  const dimQ = scorer.index.dim;
  const queries = ids.map((u) => {
    const q = new Float32Array(dimQ);
    q.set(served.ann.userVector(u));
    if (dimQ > factors) q[factors] = 1;
    return q;
  });
  const denies = ids.map((u) => {
    const r = served.users.index(u);
    return served.train.indices.slice(Number(served.train.indptr[r]), Number(served.train.indptr[r + 1]));
  });
  const exactUs = perCallUs((i) => served.model.recommend(ids[i], { k: 10 }), 100);
  const rows = [];
  for (const ef of [16, 32, 64, 128]) {
    scorer.index.ef = ef;
    similar.index.ef = ef;
    const recall = () => {
      let hit = 0;
      let total = 0;
      ids.slice(0, 300).forEach((u, i) => {
        for (const x of annRecommend(served, { user: u }, 10, true).items) if (truthUsers[i].has(x)) hit++;
        total += truthUsers[i].size;
      });
      return +(hit / total).toFixed(3);
    };
    let simHit = 0;
    let simTotal = 0;
    itemIds.forEach((item, i) => {
      const r = similar.similar(served.items.index(item), 10);
      for (const x of served.items.idsOf(r.indices)) if (truthItems[i].has(x)) simHit++;
      simTotal += truthItems[i].size;
    });
    const row = {
      ef,
      userRecallAt10: recall(),
      scoringStepUs: perCallUs((i) => annRecommend(served, { user: ids[i] }, 10, true), ids.length),
      graphOnly: withScorer(graphOnly, () => ({
        userRecallAt10: recall(),
        nativeSearchUs: perCallUs((i) => scorer.index.searchLabels(queries[i], 20, ef, null, denies[i]), ids.length),
        scoringStepUs: perCallUs((i) => annRecommend(served, { user: ids[i] }, 10, true), ids.length),
      })),
      similarRecallAt10: +(simHit / simTotal).toFixed(3),
      similarStepUs: perCallUs((i) => similar.similar((i * 40503) % nItems, 10), ids.length),
    };
    console.log('in process:', JSON.stringify(row));
    rows.push(row);
  }
  console.log(`in process: exact scoring ${exactUs} us per user`);
  return { exactScoringUs: exactUs, storage: scorer.index.info().storage, byEf: rows };
})();

// ---- request streams ----
/** Every user once before any repeats (35761 is coprime with 50,000: a full cycle). */
const permutedUser = (n) => `/v1/users/u${(n * 2654435761) % nUsers}/recommendations?k=10`;
/** Zipf(1) over users: user of rank r (a seeded shuffle of ranks) asked with probability ~ 1/r. */
const zipfUsers = (() => {
  const rand = rng(11);
  const cdf = new Float64Array(nUsers);
  let total = 0;
  for (let r = 0; r < nUsers; r++) cdf[r] = total += 1 / (r + 1);
  const out = new Int32Array(1 << 20);
  for (let i = 0; i < out.length; i++) {
    const x = rand() * total;
    let lo = 0;
    let hi = nUsers - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    out[i] = (lo * 7919 + 13) % nUsers; // rank -> user, spread over the ids
  }
  return out;
})();
const zipfUser = (n) => `/v1/users/u${zipfUsers[n % zipfUsers.length]}/recommendations?k=10`;

const token = 'bench-token-0123456789abcdef';

async function startServer(c) {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const file = c.scoring === 'ann' && c.index === 'stored' ? indexedPath : modelPath;
  const serverArgs = [join(benchDir, '..', 'dist', 'cli', 'main.js'), 'serve', file, '--port', String(port), '--log-level', 'warn', '--token', token];
  if (c.scoring === 'ann') serverArgs.push('--ann', ...(c.ef ? ['--ef', String(c.ef)] : []), ...(c.storage ? ['--ann-storage', c.storage] : []));
  if (c.workers > 1) serverArgs.push('--workers', String(c.workers));
  if (c.cache) serverArgs.push('--cache', String(c.cache));
  const proc = spawn(process.execPath, serverArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  for (;;) {
    try {
      const r = await fetch(`${base}/healthz`);
      // With several workers, wait until a second connection also gets an answer from each.
      if (r.ok) break;
    } catch {}
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    if (performance.now() - t0 > 240_000) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
  const startSeconds = (performance.now() - t0) / 1000;
  if (c.workers > 1) await new Promise((r) => setTimeout(r, 2000 + 500 * c.workers)); // the other workers finish loading
  return { proc, base, startSeconds };
}

async function stopServer(proc) {
  proc.kill('SIGTERM');
  if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
}

/**
 * CPU seconds (user + system) used so far by the server: its process and, with
 * --workers, its worker processes (Linux /proc; null elsewhere). Divided by the
 * requests of a run it gives the server's CPU cost per request, which the
 * load generator's share of the cores does not distort.
 */
function serverCpuSeconds(pid) {
  try {
    const tick = 100; // USER_HZ on Linux
    const cpu = (p) => {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(rest[1]), seconds: (Number(rest[11]) + Number(rest[12])) / tick };
    };
    let total = cpu(pid).seconds;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === pid) continue;
      try {
        const c = cpu(name);
        if (c.ppid === pid) total += c.seconds;
      } catch {}
    }
    return total;
  } catch {
    return null;
  }
}

async function cacheCounters(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const get = (name) => Number(new RegExp(`^${name}(?:_total)? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { hits: get('fastrec_cache_hits'), misses: get('fastrec_cache_misses') };
}

/** An HTTP/1.1 request as autocannon writes it (request line, Host, keep-alive, headers, body). */
function requestBytes(host, { method = 'GET', path, headers = {}, body }) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(head + '\r\n' + (body ?? ''));
}

/** Where the next run starts in the request streams (each run continues them rather than repeating them). */
let streamStart = 0;

/**
 * One load run of autocannon with `connections` connections, each walking its
 * own stretch of the request stream (makePath(n) for its n's), with every
 * request built before the run. Why not autocannon's per-request
 * `setupRequest` hook: it rebuilds the request each time, ~40 µs more CPU per
 * request in the load generator (84 against 44-46 µs with static requests,
 * against a bare node:http server that then answered 8,925 against 18,845
 * req/s), so on two cores the load generator, not the server, was the
 * bottleneck. Why per-connection lists: autocannon's connections share one
 * request list and walk it in step (the same user asked 16 times at once:
 * cache hits). So each connection is handed its own list of prebuilt requests
 * on its first response (autocannon 8's client.requestIterator; checked).
 */
async function run(base, c, title, connections, makePath, opts = {}, pid = undefined, seconds = duration) {
  // Enough requests that no connection wraps around within the run (at up to 25,000 req/s in all).
  const perConnection = Math.max(1024, Math.ceil((seconds * 25_000) / connections));
  const host = new URL(base).host;
  const lists = Array.from({ length: connections }, (_, conn) =>
    Array.from({ length: perConnection }, (_, j) => ({ requestBuffer: requestBytes(host, { ...opts, path: makePath(streamStart + conn * perConnection + j) }) })),
  );
  streamStart += connections * perConnection;
  const cpu0 = pid ? serverCpuSeconds(pid) : null;
  const res = await new Promise((resolve, reject) => {
    const first = { ...opts, path: makePath(streamStart++) };
    const instance = autocannon({ url: base, connections, duration: seconds, requests: [first] }, (err, r) => (err ? reject(err) : resolve(r)));
    const handed = new Set();
    instance.on('response', (client) => {
      if (handed.has(client)) return;
      const it = client.requestIterator;
      if (!it || !Array.isArray(it.requests) || typeof it.currentRequestIndex !== 'number') {
        instance.stop();
        reject(new Error('this autocannon version has no client.requestIterator (bench written for autocannon 8)'));
        return;
      }
      it.requests = lists[handed.size];
      it.currentRequestIndex = -1; // the client's next request is the list's first
      handed.add(client);
    });
  });
  const total = res.requests.total;
  {
    const row = {
      config: c.name,
      endpoint: title,
      connections,
      seconds: res.duration,
      requestsPerSecond: Math.round(res.requests.average),
      totalRequests: total,
      p50ms: res.latency.p50,
      p90ms: res.latency.p90,
      p99ms: res.latency.p99,
      maxMs: res.latency.max,
      errors: res.errors,
      timeouts: res.timeouts,
      non2xx: res.non2xx,
      loadAverage1m: +loadavg()[0].toFixed(2),
    };
    const cpu1 = pid ? serverCpuSeconds(pid) : null;
    if (cpu0 !== null && cpu1 !== null && total > 0) row.serverCpuUsPerRequest = Math.round((1e6 * (cpu1 - cpu0)) / total);
    return row;
  }
}

const results = [];
const starts = [];
try {
  for (const c of configs) {
    const { proc, base, startSeconds } = await startServer(c);
    starts.push({ config: c.name, serverReadySeconds: +startSeconds.toFixed(2) });
    console.log(`[${c.name}] server ready in ${startSeconds.toFixed(2)} s`);
    try {
      const users = c.cache ? zipfUser : permutedUser;
      // Warm-up (JIT, page cache), not recorded. With the cache on, the same Zipf stream for
      // `--cache-warmup` seconds (default 5) first, so that the runs see a cache in its steady
      // state rather than filling from empty (each run's own hit rate is measured and reported).
      await new Promise((resolve) => autocannon({ url: `${base}${permutedUser(1)}`, connections: 4, duration: 2 }, resolve));
      if (c.cache && cacheWarmup > 0 && endpoints.has('users')) {
        const w = await run(base, c, 'warm-up', 16, users, {}, undefined, cacheWarmup);
        console.log(`[${c.name}] cache warm-up: ${w.totalRequests} requests in ${w.seconds} s`);
      }
      for (const conns of endpoints.has('users') ? connectionsList : []) {
        const before = c.cache ? await cacheCounters(base) : undefined;
        const row = await run(base, c, 'GET /v1/users/:id/recommendations', conns, users, {}, proc.pid);
        if (before) {
          // Per worker counters: with several workers this reads one of them (a sample of the traffic).
          const after = await cacheCounters(base);
          const hits = after.hits - before.hits;
          const misses = after.misses - before.misses;
          row.cacheHitRate = +(hits / Math.max(1, hits + misses)).toFixed(3);
          row.userDistribution = 'zipf(1) over users';
        } else {
          row.userDistribution = 'every user once (permutation)';
        }
        console.log(JSON.stringify(row));
        results.push(row);
      }
      // The framework's floor on this machine: the cheapest route, same process layout.
      if (endpoints.has('healthz')) {
        const floor = await run(base, c, 'GET /healthz (HTTP floor)', 16, () => '/healthz', {}, proc.pid);
        console.log(JSON.stringify(floor));
        results.push(floor);
      }
      if (!c.cache && endpoints.has('similar')) {
        const sim = await run(base, c, 'GET /v1/items/:id/similar', 16, (n) => `/v1/items/i${(n * 40503) % nItems}/similar?k=10`, {}, proc.pid);
        console.log(JSON.stringify(sim));
        results.push(sim);
      }
      if (!c.cache && endpoints.has('post')) {
        const post = await run(base, c, 'POST /v1/recommendations', 16, () => '/v1/recommendations', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ items: ['i1', 'i20', 'i300', 'i4000'], k: 10 }),
        }, proc.pid);
        console.log(JSON.stringify(post));
        results.push(post);
      }
    } finally {
      await stopServer(proc);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true }); // the models, unless --model named another place
}
if (!args['no-write']) await writeResult(args.out ?? 'server', { data, alsIterations, ...(data === 'taste' ? { clusters } : {}), items: nItems, users: nUsers, factors, duration, cacheWarmupSeconds: cacheWarmup, loadAverageAtStart, modelFileMiB: fileMiB, indexedFileMiB, storedIndexes, indexBuildSeconds, inProcess, loadMs: load, loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)), starts, runs: results });
