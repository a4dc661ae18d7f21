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

beforeAll(() => {
  expect(fs.existsSync(cli), 'dist/ is missing: run `npx tsc -p tsconfig.json` (npm test does)').toBe(true);
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-cli-'));
  writeModelFile(join(dir, 'tiny.fastrec'), TinyModel.make(3, 5).toState(), { note: 'cli test' });
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
