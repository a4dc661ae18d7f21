import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join, dirname } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeModelFile } from '../lib/io/modelfile.js';
import { TinyModel } from './fixtures/tiny-model.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function fastrec(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Planted structure: households h0..h19 buy only products p0..p14 (group A),
 * h20..h39 only p15..p29 (group B); each buys 6 of its group's products.
 */
function writeData(): void {
  const lines = ['household_id,product_id,quantity,ts'];
  for (let u = 0; u < 40; u++) {
    const base = u < 20 ? 0 : 15;
    for (let j = 0; j < 6; j++) lines.push(`h${u},p${base + ((u * 7 + j * 4) % 15)},${1 + (j % 3)},${1_600_000_000 + u * 1000 + j * 60}`);
  }
  fs.writeFileSync(join(dir, 'data.csv'), lines.join('\n') + '\n');
  const items = ['product_id,department,title'];
  for (let i = 0; i < 30; i++) items.push(`p${i},${i < 15 ? 'GROCERY' : 'DRUG'},product number ${i} of the shop`);
  fs.writeFileSync(join(dir, 'items.csv'), items.join('\n') + '\n');
}
const groupA = new Set(Array.from({ length: 15 }, (_, i) => `p${i}`));

beforeAll(() => {
  expect(fs.existsSync(cli), 'dist/ is missing: run `npx tsc -p tsconfig.json` (npm test does)').toBe(true);
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-cli-'));
  writeModelFile(join(dir, 'tiny.fastrec'), TinyModel.make(3, 5).toState(), { note: 'cli test' });
  writeData();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fastrec (general)', () => {
  it('prints usage with exit code 2 without a command, 0 with --help', async () => {
    const none = await fastrec();
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: fastrec <command>/);
    const help = await fastrec('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/recommend <model>/);
  });

  it('rejects unknown commands and options with exit code 2 and a hint', async () => {
    const r = await fastrec('recomend');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'recomend' \(did you mean 'recommend'\?\)/);
    const o = await fastrec('info', 'tiny.fastrec', '--bogus');
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/Unknown option '--bogus'/);
    expect(o.stderr).toMatch(/Usage: fastrec info/);
  });
});

describe('fastrec info', () => {
  it('describes a model file as a table and as JSON', async () => {
    const r = await fastrec('info', 'tiny.fastrec');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/model: +tiny \(state version 1\)/);
    expect(r.stdout).toMatch(/note: +cli test/);
    expect(r.stdout).toMatch(/array:itemFactors +f32 +20 +80/);
    const j = await fastrec('info', 'tiny.fastrec', '--json');
    expect(j.code).toBe(0);
    const info = JSON.parse(j.stdout);
    expect(info.kind).toBe('tiny');
    expect(info.config).toEqual({ dim: 4 });
    expect(info.sections.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['array:userFactors', 'array:itemFactors', 'ids:users', 'ids:items']));
  });

  it('fails with exit code 1 and says what to do for missing, corrupt and truncated files', async () => {
    const missing = await fastrec('info', 'nope.fastrec');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/IO_ERROR: cannot read model file nope.fastrec: no such file/);
    const bytes = fs.readFileSync(join(dir, 'tiny.fastrec'));
    fs.writeFileSync(join(dir, 'cut.fastrec'), bytes.subarray(0, bytes.length - 3));
    const cut = await fastrec('info', 'cut.fastrec');
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/CORRUPT_FILE: .*truncated.*fastrec train/);
    expect(cut.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace for a known failure
    const rec = await fastrec('recommend', 'cut.fastrec', '--user', 'u1');
    expect(rec.code).toBe(1);
    expect(rec.stderr).toMatch(/CORRUPT_FILE/);
  });

  it('reports a model kind this build cannot load as UNSUPPORTED_VERSION', async () => {
    const r = await fastrec('recommend', 'tiny.fastrec', '--user', 'u1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNSUPPORTED_VERSION: .*cannot load models of kind 'tiny'/);
  });

  it('usage errors: missing arguments give exit code 2', async () => {
    expect((await fastrec('info')).code).toBe(2);
    expect((await fastrec('info', 'a', 'b')).code).toBe(2);
    expect((await fastrec('recommend', 'tiny.fastrec')).stderr).toMatch(/give either --user ID or --history/);
    expect((await fastrec('recommend', 'tiny.fastrec', '--user', 'u1', '--k', '0')).code).toBe(2);
    expect((await fastrec('similar', 'tiny.fastrec')).stderr).toMatch(/missing --item ID/);
  });
});

describe('fastrec train, recommend, similar', () => {
  it('trains item-kNN on a CSV (columns guessed) and answers within the planted groups', async () => {
    const t = await fastrec('train', 'data.csv', '--model', 'itemknn', '--out', 'knn.fastrec', '--json');
    expect(t.code, t.stderr).toBe(0);
    const summary = JSON.parse(t.stdout);
    expect(summary).toMatchObject({ model: 'itemknn', users: 40, items: 30, out: 'knn.fastrec' });
    const info = JSON.parse((await fastrec('info', 'knn.fastrec', '--json')).stdout);
    expect(info.kind).toBe('itemknn');
    expect(info.metadata).toMatchObject({ trainedOn: 'data.csv', users: 40, items: 30 });

    const r = await fastrec('recommend', 'knn.fastrec', '--user', 'h3', '--k', '5', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.items).toHaveLength(5);
    for (const x of rec.items) expect(groupA.has(x.item), x.item).toBe(true);
    // Seen items are not recommended.
    const seen = fs.readFileSync(join(dir, 'data.csv'), 'utf8').split('\n').filter((l) => l.startsWith('h3,')).map((l) => l.split(',')[1]);
    for (const x of rec.items) expect(seen).not.toContain(x.item);

    const sim = JSON.parse((await fastrec('similar', 'knn.fastrec', '--item', 'p20', '--k', '4', '--json')).stdout);
    expect(sim.items).toHaveLength(4);
    for (const x of sim.items) expect(groupA.has(x.item)).toBe(false);

    const hist = JSON.parse((await fastrec('recommend', 'knn.fastrec', '--history', 'p1,p2', '--k', '3', '--json')).stdout);
    for (const x of hist.items) expect(groupA.has(x.item)).toBe(true);

    const table = await fastrec('recommend', 'knn.fastrec', '--user', 'h3', '--k', '3', '--explain');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/rank +item +score +why/);
    expect(table.stdout).toMatch(/because of p\d+/);
  });

  it('trains ALS with hyper-parameters and reports the loss', async () => {
    const t = await fastrec('train', 'data.csv', '--model', 'als', '--factors', '4', '--iterations', '3', '--set', 'solver=cholesky', '--out', 'als.fastrec', '--json');
    expect(t.code, t.stderr).toBe(0);
    expect(Number.isFinite(JSON.parse(t.stdout).finalLoss)).toBe(true);
    const info = JSON.parse((await fastrec('info', 'als.fastrec', '--json')).stdout);
    expect(info.config).toMatchObject({ factors: 4, iterations: 3, solver: 'cholesky' });
    const r = await fastrec('recommend', 'als.fastrec', '--user', 'h25', '--k', '3', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).items).toHaveLength(3);
    // --ann stores the serving indexes in the file; models without factors have none to store.
    const a = await fastrec('train', 'data.csv', '--model', 'als', '--factors', '4', '--ann', '--out', 'als-ann.fastrec');
    expect(a.code, a.stderr).toBe(0);
    const sections = JSON.parse((await fastrec('info', 'als-ann.fastrec', '--json')).stdout).sections.map((x: { name: string }) => x.name);
    expect(sections).toEqual(expect.arrayContaining(['index:ann.users', 'index:ann.similar']));
    const knn = await fastrec('train', 'data.csv', '--model', 'itemknn', '--ann', '--out', 'knn-ann.fastrec');
    expect(knn.code).toBe(2);
    expect(knn.stderr).toMatch(/--ann: .*needs a factor model/);
    expect(fs.existsSync(join(dir, 'knn-ann.fastrec'))).toBe(false);
  });

  it('trains the hybrid with item attributes and explains its recommendations', async () => {
    const t = await fastrec('train', 'data.csv', '--items', 'items.csv', '--model', 'hybrid', '--out', 'hybrid.fastrec', '--json');
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse((await fastrec('info', 'hybrid.fastrec', '--json')).stdout).kind).toBe('hybrid');
    const r = await fastrec('recommend', 'hybrid.fastrec', '--user', 'h3', '--k', '4', '--json');
    expect(r.code, r.stderr).toBe(0);
    const items = JSON.parse(r.stdout).items;
    expect(items).toHaveLength(4);
    for (const x of items) expect(groupA.has(x.item), x.item).toBe(true);
    const why = await fastrec('recommend', 'hybrid.fastrec', '--user', 'h3', '--k', '2', '--explain');
    expect(why.stdout).toMatch(/who bought p\d+ also bought this/);
  });

  it('fails with exit code 1 and a hint for unknown ids', async () => {
    const r = await fastrec('recommend', 'knn.fastrec', '--user', 'nobody');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNKNOWN_ID: unknown user id "nobody".*recommendForHistory/);
    const s = await fastrec('similar', 'knn.fastrec', '--item', 'nothing');
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/unknown item id "nothing"/);
  });

  it('usage errors for bad models, options and columns give exit code 2', async () => {
    const m = await fastrec('train', 'data.csv', '--model', 'nope', '--out', 'x.fastrec');
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/unknown model 'nope'; available: als\|/);
    const o = await fastrec('train', 'data.csv', '--model', 'als', '--set', 'factorz=3', '--out', 'x.fastrec');
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/factorz/);
    const c = await fastrec('train', 'data.csv', '--model', 'popular', '--user-col', 'customer', '--out', 'x.fastrec');
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/has no column "customer".*household_id, product_id, quantity, ts/);
    expect((await fastrec('train', 'data.csv', '--model', 'popular')).stderr).toMatch(/missing --out/);
    const missing = await fastrec('train', 'nope.csv', '--model', 'popular', '--out', 'x.fastrec');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/IO_ERROR: cannot read nope.csv: no such file/);
    expect(fs.existsSync(join(dir, 'x.fastrec'))).toBe(false);
  });
});

describe('fastrec eval', () => {
  it('compares models on a split as JSON and as a table', async () => {
    const r = await fastrec('eval', 'data.csv', '--models', 'popular,itemknn', '--split', 'random', '--k', '5', '--metrics', 'recall,ndcg', '--items', 'items.csv', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.split.strategy).toBe('random');
    expect(out.comparison.baseline).toBe('popular');
    expect(out.comparison.rows.map((x: { model: string }) => x.model)).toEqual(['popular', 'itemknn']);
    expect(out.comparison.metrics).toEqual(['recall@5', 'ndcg@5']);
    // The planted groups make item-kNN beat popularity.
    const recall = (m: string) => out.comparison.rows.find((x: { model: string }) => x.model === m).metrics['recall@5'].value;
    expect(recall('itemknn')).toBeGreaterThan(recall('popular'));
    const t = await fastrec('eval', 'data.csv', '--models', 'popular,random', '--split', 'leave-last', '--k', '5');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/popular \(baseline\)/);
    const bad = await fastrec('eval', 'data.csv', '--split', 'sideways');
    expect(bad.code).toBe(2);
  });
});

describe('fastrec serve', () => {
  it('serves a trained model and shuts down gracefully on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const proc = spawn(process.execPath, [cli, 'serve', 'knn.fastrec', '--port', '0', '--token', 'a-long-enough-token-123'], { cwd: dir });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line in: ${out}`)), 30_000);
      const check = (): void => {
        const m = /listening at (http:\/\/127\.0\.0\.1:\d+)/i.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      proc.stdout.on('data', check);
      proc.stderr.on('data', check);
    });
    const h = await fetch(`${address}/healthz`);
    expect(h.status).toBe(200);
    expect(((await h.json()) as { model: { kind: string } }).model.kind).toBe('itemknn');
    const r = await fetch(`${address}/v1/users/h3/recommendations?k=3`);
    expect(r.status).toBe(200);
    // Structured logs: one JSON object per line (pino).
    const firstLine = out.split('\n').find((l) => l.startsWith('{'))!;
    expect(JSON.parse(firstLine)).toHaveProperty('level');
    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/shutting down/);
    const short = await fastrec('serve', 'knn.fastrec', '--token', 'short');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 16 characters/);
    const badStorage = await fastrec('serve', 'knn.fastrec', '--ann', '--ann-storage', 'int4');
    expect(badStorage.code).toBe(2);
    expect(badStorage.stderr).toMatch(/--ann-storage must be float16, float32 or int8, got "int4"/);
    const copyAlone = await fastrec('serve', 'knn.fastrec', '--ann-copy');
    expect(copyAlone.code).toBe(2);
    expect(copyAlone.stderr).toMatch(/--ann-copy apply only with --ann/);
  });

  it('runs several workers on one port as one service (events, reload, /metrics), and stops them all on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const http = await import('node:http');
    const token = 'a-long-enough-token-123';
    // The model to reload: the same data plus product p30, which only it knows.
    fs.writeFileSync(join(dir, 'data2.csv'), fs.readFileSync(join(dir, 'data.csv'), 'utf8') + ['h1,p30,2,1600000999', 'h2,p30,1,1600000999', 'h2,p1,1,1600000999'].join('\n') + '\n');
    expect((await fastrec('train', 'data2.csv', '--model', 'itemknn', '--out', 'knn2.fastrec')).code).toBe(0);
    const proc = spawn(process.execPath, [cli, 'serve', 'knn.fastrec', '--port', '0', '--token', token, '--workers', '2', '--cache', '100'], { cwd: dir });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    for (let t = 0; t < 600 && !/all 2 workers listening/.test(out); t++) await new Promise((r) => setTimeout(r, 50));
    const address = /listening at (http:\/\/127\.0\.0\.1:\d+)/i.exec(out)?.[1];
    expect(address, out).toBeTruthy();
    // One kept-alive connection stays with the worker that accepted it: `via` picks the worker.
    const request = (agent: import('node:http').Agent | false, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> =>
      new Promise((resolve, reject) => {
        const req = http.request(`${address}${path}`, { method, agent, headers: body ? { 'content-type': 'application/json', authorization: `Bearer ${token}` } : {} }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, text, json: /json/.test(String(res.headers['content-type'])) ? JSON.parse(text) : undefined }));
        });
        req.on('error', reject);
        // A connection handed to a worker as it is killed is never answered: give up on it.
        req.setTimeout(5_000, () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
        req.end(body ? JSON.stringify(body) : undefined);
      });
    const via: import('node:http').Agent[] = [];
    const pids: number[] = [];
    for (let t = 0; t < 10 && via.length < 2; t++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const pid = (await request(agent, 'GET', '/healthz')).json.pid as number;
      if (pids.includes(pid)) agent.destroy();
      else via.push(agent), pids.push(pid);
    }
    expect(pids).toHaveLength(2);
    const [A, B] = via as [import('node:http').Agent, import('node:http').Agent];
    for (const [agent, pid] of [[A, pids[0]], [B, pids[1]]] as const) expect((await request(agent, 'GET', '/healthz')).json.pid).toBe(pid);
    let recommendations = 0; // requests answered 200 on the route, over both workers
    const top3 = async (agent: import('node:http').Agent): Promise<string> => {
      const r = await request(agent, 'GET', '/v1/users/h3/recommendations?k=3');
      if (r.status === 200) recommendations++;
      return JSON.stringify(r.json.items.map((x: { item: string }) => x.item));
    };
    const before = await top3(B);
    expect(await top3(A)).toBe(before);
    // Events for h3 of the other group's products, posted to A: B's answer changes too (and B's cached one is dropped).
    const ev = await request(A, 'POST', '/v1/events', { events: ['p20', 'p21', 'p22', 'p23'].map((item) => ({ user: 'h3', item, value: 5 })) });
    expect(ev.status).toBe(202);
    let after = await top3(B);
    for (let t = 0; t < 50 && after === before; t++) after = (await new Promise((r) => setTimeout(r, 10)), await top3(B)); // the relay is asynchronous
    expect(after).not.toBe(before);
    expect(await top3(A)).toBe(after);
    for (let i = 0; i < 3; i++) await top3(A);
    // /metrics on either worker counts the requests of both (5 went to A, the rest to B).
    for (const agent of [A, B]) {
      const m = await request(agent, 'GET', '/metrics');
      expect(m.text).toContain(`\nfastrec_http_requests_total{method="GET",route="/v1/users/:id/recommendations",status="200"} ${recommendations}\n`);
      expect(m.text).toContain('\nfastrec_events_total 4\n');
      expect(m.text).toContain('\nfastrec_workers 2\n');
    }

    // Reload under load on both workers: no failed request, and from its answer on, every worker serves the new file.
    expect((await request(B, 'GET', '/v1/items/p30/similar?k=2')).status).toBe(404);
    let stop = false;
    let answeredAt = Infinity;
    const problems: string[] = [];
    const client = async (agent: import('node:http').Agent | false): Promise<void> => {
      while (!stop) {
        const sent = performance.now();
        const r = await request(agent, 'GET', '/healthz');
        if (r.status !== 200) problems.push(`status ${r.status}`);
        else if (sent > answeredAt && r.json.model.path !== 'knn2.fastrec') problems.push(`pid ${r.json.pid} served ${r.json.model.path} after the reload answered`);
      }
    };
    const clients = [client(A), client(B), client(false), client(false)];
    await new Promise((r) => setTimeout(r, 50));
    const reload = await request(false, 'POST', '/v1/admin/reload', { path: 'knn2.fastrec' });
    answeredAt = performance.now();
    expect(reload.status, reload.text).toBe(200);
    expect(reload.json).toMatchObject({ workers: 2, model: { path: 'knn2.fastrec' } });
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(clients);
    expect(problems).toEqual([]);
    for (const agent of [A, B]) expect((await request(agent, 'GET', '/v1/items/p30/similar?k=2')).status).toBe(200);
    expect((await request(A, 'GET', '/metrics')).text).toContain('\nfastrec_reloads_total 1\n');

    // A worker that dies is replaced by one serving the reloaded file, not the one on the command line.
    process.kill(pids[1]!, 'SIGKILL');
    let replacement: { pid: number; path: string } | undefined;
    for (let t = 0; t < 200 && !replacement; t++) {
      const h = await new Promise<Awaited<ReturnType<typeof request>> | undefined>((resolve) => {
        const r = request(false, 'GET', '/healthz').catch(() => undefined);
        setTimeout(() => resolve(undefined), 500).unref();
        void r.then(resolve);
      });
      if (h?.status === 200 && !pids.includes(h.json.pid)) replacement = { pid: h.json.pid, path: h.json.model.path };
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(replacement?.path, out).toBe('knn2.fastrec');
    pids.push(replacement!.pid);
    // The dead worker's counts (as of the last scrape) stay in the service's sums.
    const m = await request(A, 'GET', '/metrics');
    expect(m.text).toContain(`\nfastrec_http_requests_total{method="GET",route="/v1/users/:id/recommendations",status="200"} ${recommendations}\n`);
    expect(m.text).toContain('\nfastrec_reloads_total 1\n');
    expect(m.text).toContain('\nfastrec_worker_restarts_total 1\n');
    A.destroy();
    B.destroy();
    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    // A bad model file stops every worker with the loading error's exit code.
    const bad = await fastrec('serve', 'missing.fastrec', '--workers', '2', '--port', '0');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/missing\.fastrec/);
  });
});
