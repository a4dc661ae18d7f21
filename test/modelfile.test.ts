import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join, dirname } from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readModelFile, writeModelFile, inspectModelFile, decodeModelFile, FORMAT_VERSION } from '../lib/io/modelfile.js';
import { crc32, crc32Js } from '../lib/io/crc32.js';
import { saveModel, loadModel, registerModel, modelFromState, modelKinds } from '../lib/models/registry.js';
import { CorruptFileError, IoError, UnsupportedVersionError, InvalidArgumentError } from '../lib/errors.js';
import type { ModelState } from '../lib/recommender.js';
import { TinyModel } from './fixtures/tiny-model.js';
import { Interactions } from '../lib/data/interactions.js';
import { Dataset } from '../lib/data/dataset.js';
import { MODEL_SPECS, persistable } from '../lib/cli/models.js';
import '../lib/models/builtin.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-modelfile-'));
  registerModel('tiny', TinyModel.fromState);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function sampleState(): ModelState {
  return {
    kind: 'sample',
    version: 3,
    config: { factors: 8, alpha: 0.5, nested: { list: [1, 'two'] } },
    arrays: {
      f32: Float32Array.from([1.5, -2.25, Math.PI]),
      f64: Float64Array.from([Math.E, -0, 1e300]),
      i32: Int32Array.from([-1, 0, 2147483647]),
      u32: Uint32Array.from([4294967295, 7]),
      u8: Uint8Array.from([1, 2, 3, 4, 5]),
      i64: BigInt64Array.from([0n, -5n, 9007199254740993n]),
      empty: new Float32Array(0),
      // A view into a larger buffer: only the view's bytes are stored.
      view: new Float32Array([9, 8, 7, 6]).subarray(1, 3),
    },
    ids: { users: ['a', 'b', 'ü', ''], items: [10, 20.5, -3], mixed: ['1', 1], none: [], lines: ['a\nb', 'c'] },
  };
}

describe('CRC-32', () => {
  it('matches the standard check value and zlib', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32Js(bytes)).toBe(0xcbf43926);
    expect(crc32(bytes)).toBe(0xcbf43926);
    const rnd = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 255);
    expect(crc32Js(rnd)).toBe(crc32(rnd));
    expect(crc32Js(rnd.subarray(500), crc32Js(rnd.subarray(0, 500)))).toBe(crc32(rnd));
  });
});

/** A copy of a model file with its section table changed by `edit` (lengths and checksums fixed up). */
function rewriteTable(file: Uint8Array, edit: (table: any) => void): Uint8Array {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const at = Number(dv.getBigUint64(24, true));
  const table = JSON.parse(new TextDecoder().decode(file.subarray(at, at + Number(dv.getBigUint64(32, true)))));
  edit(table);
  const bytes = new TextEncoder().encode(JSON.stringify(table));
  const out = new Uint8Array(at + bytes.byteLength);
  out.set(file.subarray(0, at));
  out.set(bytes, at);
  const h = new DataView(out.buffer);
  h.setBigUint64(16, BigInt(out.byteLength), true);
  h.setBigUint64(32, BigInt(bytes.byteLength), true);
  h.setUint32(40, crc32(bytes), true);
  h.setUint32(44, crc32(out.subarray(0, 44)), true);
  return out;
}

describe('model file container', () => {
  it('round-trips every array type and id list exactly', () => {
    const path = join(dir, 'sample.fastrec');
    const s = sampleState();
    writeModelFile(path, s, { note: 'hello' });
    const { state, info } = readModelFile(path);
    expect(state.kind).toBe('sample');
    expect(state.version).toBe(3);
    expect(state.config).toEqual(s.config);
    for (const [name, arr] of Object.entries(s.arrays)) {
      expect(state.arrays[name]!.constructor).toBe(arr.constructor);
      expect(Array.from(state.arrays[name] as ArrayLike<unknown>)).toEqual(Array.from(arr as ArrayLike<unknown>));
    }
    expect(Object.is(state.arrays.f64![1], -0)).toBe(true);
    expect(state.ids).toEqual(s.ids);
    const dtypes = Object.fromEntries(info.sections.map((x) => [x.name, x.dtype]));
    expect(dtypes).toMatchObject({ 'ids:users': 'ids-lines', 'ids:items': 'ids-f64', 'ids:mixed': 'json', 'ids:lines': 'json' });
    expect(info.metadata).toEqual({ note: 'hello' });
    expect(info.formatVersion).toBe(1);
    expect(info.fileBytes).toBe(fs.statSync(path).size);
    expect(inspectModelFile(path)).toEqual({ ...info, mapped: undefined });
    // Memory-mapped (the default where the addon has mmap) and plain reads agree.
    const plain = readModelFile(path, { mmap: false });
    expect(plain.info.mapped).toBe(false);
    expect(info.mapped).toBe(true);
    for (const [name, arr] of Object.entries(plain.state.arrays)) expect(state.arrays[name]).toEqual(arr);
  });

  it('stores prebuilt index sections beside the state and returns them as views', () => {
    const path = join(dir, 'indexes.fastrec');
    const graph = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
    writeModelFile(path, sampleState(), {}, { 'ann.users': graph, empty: new Uint8Array(0) });
    const { state, info, indexes } = readModelFile(path);
    expect(Array.from(indexes['ann.users']!)).toEqual(Array.from(graph));
    expect(indexes.empty!.byteLength).toBe(0);
    expect(indexes['ann.users']!.byteOffset % 64).toBe(0);
    // The state is untouched by them; files without index sections have none.
    expect(state.ids).toEqual(sampleState().ids);
    expect(info.sections.find((x) => x.name === 'index:ann.users')).toMatchObject({ dtype: 'u8', length: 1000 });
    writeModelFile(path, sampleState());
    expect(readModelFile(path).indexes).toEqual({});
    // A damaged index section fails its checksum like any other section.
    writeModelFile(path, sampleState(), {}, { 'ann.users': graph });
    const bytes = new Uint8Array(fs.readFileSync(path));
    const at = readModelFile(path).info.sections.find((x) => x.name === 'index:ann.users')!.offset + 500;
    bytes[at]! ^= 1;
    expect(() => decodeModelFile(bytes, 'flipped')).toThrow(/section index:ann.users fails its checksum/);
    expect(() => writeModelFile(path, sampleState(), {}, { bad: [1, 2] as unknown as Uint8Array })).toThrow(/indexes.bad/);
  });

  it('stamps the lowest format version that can read the file, and skips optional sections it does not know', () => {
    const graph = Uint8Array.from({ length: 300 }, (_, i) => (i * 5) & 255);
    const plainPath = join(dir, 'v1.fastrec');
    const indexedPath = join(dir, 'v2.fastrec');
    writeModelFile(plainPath, sampleState());
    writeModelFile(indexedPath, sampleState(), {}, { 'ann.users': graph });
    // Without indexes: version 1 (fastrec releases from before index sections read it); with them: 2.
    const headerVersion = (p: string): number => new DataView(fs.readFileSync(p).buffer).getUint32(8, true);
    expect(headerVersion(plainPath)).toBe(1);
    expect(headerVersion(indexedPath)).toBe(2);
    expect(FORMAT_VERSION).toBe(2);
    expect(readModelFile(indexedPath).info.formatVersion).toBe(2);
    expect(inspectModelFile(indexedPath).sections.find((x) => x.name === 'index:ann.users')).toMatchObject({ optional: true });
    expect(inspectModelFile(plainPath).sections.every((x) => x.optional === undefined)).toBe(true);

    const good = new Uint8Array(fs.readFileSync(indexedPath));
    // A newer fastrec's optional section (unknown group and dtype): skipped, the model loads.
    const future = rewriteTable(good, (t) => {
      const s = t.sections.find((x: { name: string }) => x.name === 'index:ann.users');
      s.name = 'cache:warm-users';
      s.dtype = 'zstd';
    });
    const loaded = decodeModelFile(future, 'future');
    expect(loaded.state.ids).toEqual(sampleState().ids);
    expect(Array.from(loaded.state.arrays.f32!)).toEqual(Array.from(sampleState().arrays.f32!));
    expect(loaded.indexes).toEqual({});
    // The same section not marked optional is one this reader needs but cannot decode: damage.
    const required = rewriteTable(future, (t) => {
      delete t.sections.find((x: { name: string }) => x.name === 'cache:warm-users').optional;
    });
    expect(() => decodeModelFile(required, 'required')).toThrow(CorruptFileError);
    expect(() => decodeModelFile(required, 'required')).toThrow(/section "cache:warm-users" has an (invalid place or type|unknown kind)/);
    // An optional section still has its checksum checked and must lie inside the file.
    const flipped = future.slice();
    flipped[readModelFile(indexedPath).info.sections.find((x) => x.name === 'index:ann.users')!.offset + 7]! ^= 1;
    expect(() => decodeModelFile(flipped, 'flipped')).toThrow(/section cache:warm-users fails its checksum/);
    const outside = rewriteTable(future, (t) => {
      t.sections.find((x: { name: string }) => x.name === 'cache:warm-users').byteLength = 1e9;
    });
    expect(() => decodeModelFile(outside, 'outside')).toThrow(CorruptFileError);
    // Version-1 files that carry index sections (written before the bump) still load with them.
    const v1 = good.slice();
    const dv = new DataView(v1.buffer);
    dv.setUint32(8, 1, true);
    dv.setUint32(44, crc32(v1.subarray(0, 44)), true);
    expect(Array.from(decodeModelFile(v1, 'v1').indexes['ann.users']!)).toEqual(Array.from(graph));
  });

  it('loads arrays as aligned zero-copy views of one buffer', () => {
    const path = join(dir, 'views.fastrec');
    writeModelFile(path, sampleState());
    const { state, info } = readModelFile(path);
    const buffers = new Set(Object.values(state.arrays).map((a) => a.buffer));
    expect(buffers.size).toBe(1);
    for (const a of Object.values(state.arrays)) expect(a.byteOffset % 64).toBe(0);
    for (const s of info.sections) expect(s.offset % 64).toBe(0);
  });

  it('saves and loads a model through the registry with identical recommendations', async () => {
    const model = TinyModel.make(5, 30, 4);
    const path = join(dir, 'tiny.fastrec');
    await saveModel(model, path, { metadata: { trainedOn: 'nothing' } });
    const loaded = (await loadModel(path)) as TinyModel;
    expect(modelKinds()).toContain('tiny');
    for (const u of ['u0', 'u3']) {
      const a = model.recommend(u, { k: 7 });
      const b = loaded.recommend(u, { k: 7 });
      expect(b.items).toEqual(a.items);
      expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
    }
    expect(loaded.similarItems('i2', 5).items).toEqual(model.similarItems('i2', 5).items);
    const info = inspectModelFile(path);
    expect(info.kind).toBe('tiny');
    expect(info.metadata.trainedOn).toBe('nothing');
    expect(typeof info.metadata.fastrec).toBe('string');
  });

  it('overwrites an existing file and leaves no temporary files', () => {
    const path = join(dir, 'over.fastrec');
    writeModelFile(path, sampleState());
    const s2 = sampleState();
    s2.config = { v: 2 };
    writeModelFile(path, s2);
    expect(readModelFile(path).state.config).toEqual({ v: 2 });
    expect(fs.readdirSync(dir).filter((f) => f.includes('over.fastrec.tmp'))).toEqual([]);
  });
});

describe('every built-in model type', () => {
  let ds: Dataset;
  beforeAll(async () => {
    // Two planted groups of users and items, so every model has structure to learn.
    const log = new Interactions();
    for (let u = 0; u < 30; u++) {
      const base = u < 15 ? 0 : 20;
      for (let j = 0; j < 6; j++) log.add(`u${u}`, `i${base + ((u * 7 + j * 3) % 20)}`, 1 + (j % 2), undefined, 1_600_000_000_000 + u * 1000 + j);
    }
    ds = await Dataset.build(log);
  });

  it('has a registered loader for every model the CLI trains', () => {
    expect(MODEL_SPECS.map((s) => s.name).sort()).toEqual(['als', 'hybrid', 'itemknn', 'popular', 'puresvd', 'random', 'userknn']);
    for (const s of MODEL_SPECS) {
      expect(modelKinds()).toContain(s.name);
      expect(persistable(s.create({}, true))).toBe(true);
    }
  });

  for (const spec of MODEL_SPECS) {
    it(`${spec.name}: save -> load gives identical answers`, async () => {
      const model = spec.create(spec.name === 'als' ? { factors: 4, iterations: 3 } : spec.name === 'puresvd' ? { factors: 4 } : {}, true);
      await model.fit(ds, { seed: 3, threads: 1 });
      const path = join(dir, `${spec.name}.fastrec`);
      await saveModel(model, path);
      for (const mmap of [true, false]) {
        const loaded = (await import('../lib/models/registry.js')).openModel(path, { mmap }).model;
        expect(loaded.name).toBe(model.name);
        expect(loaded.fitted).toBe(true);
        for (const u of ['u0', 'u7', 'u22']) {
          const a = model.recommend(u, { k: 8 });
          const b = loaded.recommend(u, { k: 8 });
          expect(b.items, `${spec.name} ${u}`).toEqual(a.items);
          expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
        }
        expect(loaded.similarItems('i3', 5).items).toEqual(model.similarItems('i3', 5).items);
        expect(loaded.recommendForHistory(['i1', 'i2'], { k: 5 }).items).toEqual(model.recommendForHistory(['i1', 'i2'], { k: 5 }).items);
        const many = await loaded.recommendMany(['u1', 'u25'], { k: 4 });
        const want = await model.recommendMany(['u1', 'u25'], { k: 4 });
        expect(Array.from(many.indices)).toEqual(Array.from(want.indices));
      }
      // A damaged copy of a real model is refused, never half-loaded.
      const bytes = fs.readFileSync(path);
      const largest = inspectModelFile(path).sections.reduce((a, b) => (b.byteLength > a.byteLength ? b : a));
      bytes[largest.offset + Math.floor(largest.byteLength / 2)]! ^= 0x40;
      fs.writeFileSync(path, bytes);
      await expect(loadModel(path)).rejects.toThrow(CorruptFileError);
    });
  }
});

describe('damaged files', () => {
  let good: Uint8Array;
  let path: string;
  beforeAll(() => {
    path = join(dir, 'good.fastrec');
    writeModelFile(path, sampleState());
    good = new Uint8Array(fs.readFileSync(path));
  });

  it('rejects every truncation with CorruptFileError', () => {
    const cuts = [0, 1, 7, 8, 40, 63, 64, 65, 100, good.length - 200, good.length - 10, good.length - 1];
    for (const n of cuts) {
      const p = join(dir, `trunc-${n}.fastrec`);
      fs.writeFileSync(p, good.subarray(0, n));
      expect(() => readModelFile(p), `cut at ${n}`).toThrow(CorruptFileError);
      expect(() => inspectModelFile(p), `inspect cut at ${n}`).toThrow(CorruptFileError);
    }
    expect(() => readModelFile(path)).not.toThrow();
  });

  it('detects a flipped bit in the header, every section and the table', () => {
    const { info } = readModelFile(path);
    const positions = [0, 5, 9, 20, 30, 41, 46];
    for (const s of info.sections) if (s.byteLength > 0) positions.push(s.offset, s.offset + s.byteLength - 1);
    const tableStart = good.length - 50;
    positions.push(tableStart, good.length - 1);
    for (const pos of positions) {
      const bad = good.slice();
      bad[pos]! ^= 0x10;
      expect(() => decodeModelFile(bad, `flip@${pos}`), `flip at ${pos}`).toThrow(CorruptFileError);
    }
  });

  it('names the problem in the message', () => {
    const p = join(dir, 'trunc-msg.fastrec');
    fs.writeFileSync(p, good.subarray(0, good.length - 10));
    expect(() => readModelFile(p)).toThrow(/truncated \(\d+ of \d+ bytes\)/);
    fs.writeFileSync(p, 'user,item\n1,2\n'.repeat(10));
    expect(() => readModelFile(p)).toThrow(/does not start with the fastrec magic number/);
    fs.writeFileSync(p, '');
    expect(() => readModelFile(p)).toThrow(CorruptFileError);
  });

  it('refuses a newer format version with UnsupportedVersionError', () => {
    const bad = good.slice();
    const dv = new DataView(bad.buffer);
    dv.setUint32(8, FORMAT_VERSION + 1, true);
    dv.setUint32(44, crc32(bad.subarray(0, 44)), true);
    expect(() => decodeModelFile(bad)).toThrow(UnsupportedVersionError);
    expect(() => decodeModelFile(bad)).toThrow(/format version 3; this fastrec reads versions 1 to 2\. Upgrade fastrec/);
    // `fastrec info` reads only the header and table: the same typed error, not a corrupt-file one.
    const p = join(dir, 'newer.fastrec');
    fs.writeFileSync(p, bad);
    expect(() => inspectModelFile(p)).toThrow(UnsupportedVersionError);
    expect(() => readModelFile(p)).toThrow(UnsupportedVersionError);
  });

  it('refuses an unknown model kind with UnsupportedVersionError', () => {
    expect(() => modelFromState({ kind: 'from-the-future', version: 1, config: {}, arrays: {}, ids: {} })).toThrow(UnsupportedVersionError);
  });

  it('reports a missing file or directory as IoError', async () => {
    expect(() => readModelFile(join(dir, 'nope.fastrec'))).toThrow(IoError);
    await expect(loadModel(join(dir, 'nope.fastrec'))).rejects.toThrow(/no such file/);
    expect(() => writeModelFile(join(dir, 'no', 'such', 'dir.fastrec'), sampleState())).toThrow(IoError);
  });
});

describe('crash-safe save', () => {
  it('leaves a valid file when the saving process is killed at random moments', async () => {
    const child = join(repoRoot, 'dist', 'io', 'modelfile.js');
    expect(fs.existsSync(child), 'dist/ is missing: run `npx tsc -p tsconfig.json` (npm test does)').toBe(true);
    const path = join(dir, 'crash.fastrec');
    const script = join(dir, 'saver.mjs');
    // The child alternates between two valid states (~24 MB each) as fast as it can.
    fs.writeFileSync(
      script,
      `import { writeModelFile } from ${JSON.stringify(child)};
       const make = (v) => ({ kind: 'crash', version: 1, config: { v }, arrays: { big: new Float32Array(6_000_000).fill(v) }, ids: { items: ['x'] } });
       const states = [make(1), make(2)];
       writeModelFile(process.argv[2], states[0]);
       process.send('ready');
       for (let n = 1; ; n++) writeModelFile(process.argv[2], states[n % 2]);`,
    );
    let leftovers = 0;
    for (let round = 0; round < 6; round++) {
      const proc = fork(script, [path], { stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => {
        proc.once('message', () => resolve());
        proc.once('error', reject);
      });
      // Kill while a save is under way: wait for its temporary file to appear.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !fs.readdirSync(dir).some((f) => f.startsWith('.crash.fastrec.tmp'))) {
        await new Promise((r) => setTimeout(r, 1 + round));
      }
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
      const tmps = fs.readdirSync(dir).filter((f) => f.startsWith('.crash.fastrec.tmp'));
      leftovers += tmps.length;
      for (const t of tmps) fs.rmSync(join(dir, t));
      const { state } = readModelFile(path);
      const v = state.config.v as number;
      expect([1, 2]).toContain(v);
      const big = state.arrays.big as Float32Array;
      expect(big.length).toBe(6_000_000);
      expect(big[0]).toBe(v);
      expect(big[big.length - 1]).toBe(v);
    }
    // At least one kill landed in the middle of writing a temporary file.
    expect(leftovers).toBeGreaterThan(0);
  }, 60_000);
});

describe('invalid input', () => {
  it('rejects malformed states before touching the file', async () => {
    const path = join(dir, 'invalid.fastrec');
    expect(() => writeModelFile(path, { ...sampleState(), kind: '' })).toThrow(InvalidArgumentError);
    expect(() => writeModelFile(path, { ...sampleState(), arrays: { x: [1, 2] as unknown as Float32Array } })).toThrow(/state.arrays.x/);
    expect(() => writeModelFile(path, { ...sampleState(), ids: { users: [NaN] } })).toThrow(InvalidArgumentError);
    expect(() => writeModelFile(path, { ...sampleState(), ids: { users: ['a', {} as unknown as string] } })).toThrow(/state.ids.users\[1\]/);
    expect(() => writeModelFile('', sampleState())).toThrow(InvalidArgumentError);
    expect(fs.existsSync(path)).toBe(false);
    expect(() => registerModel('', TinyModel.fromState)).toThrow(InvalidArgumentError);
    await expect(saveModel({} as never, path)).rejects.toThrow(InvalidArgumentError);
  });
});
