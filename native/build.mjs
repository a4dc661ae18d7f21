#!/usr/bin/env node
// Build the native addon with cmake-js into build/ (node-gyp-build looks in
// build/Release). Usage: node native/build.mjs [--debug] [--sanitize] [--no-tests] [--cuda=auto|on|off]
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const has = (flag) => args.includes(flag);
const cuda = (args.find((a) => a.startsWith('--cuda=')) ?? '--cuda=off').slice(7).toUpperCase();
const out = process.env.FASTREC_BUILD_DIR ?? 'build';

const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
// Configure every time (cheap when nothing changed) so that options such as
// FASTREC_TESTS always match this call, even in a build dir configured by the
// install step with different ones; then build incrementally.
const common = ['--out', out, ...(has('--debug') ? ['--debug'] : [])];
const configure = [
  cmakeJs, 'configure', ...common,
  `--CDFASTREC_TESTS=${has('--no-tests') ? 'OFF' : 'ON'}`,
  `--CDFASTREC_CUDA=${cuda}`,
  `--CDFASTREC_SANITIZE=${has('--sanitize') ? 'address;undefined' : ''}`,
];
const build = [cmakeJs, 'build', ...common, '--parallel', String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length))];
let r = spawnSync(process.execPath, configure, { cwd: root, stdio: 'inherit' });
if (r.status === 0) r = spawnSync(process.execPath, build, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`\nfastrec: building the native addon failed (cmake-js exit ${r.status}).\n` +
    'It needs cmake (>= 3.20) and a C++17 compiler (g++ or clang++) on PATH.');
  process.exit(r.status ?? 1);
}
