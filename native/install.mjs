#!/usr/bin/env node
// npm "install" step: use a prebuilt binary when one fits this platform,
// otherwise compile from the shipped sources with cmake-js. (node-gyp-build's
// own fallback only knows node-gyp, so the fallback is wired here.)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (process.env.FASTREC_SKIP_BUILD === '1') process.exit(0);
if (loads()) {
  console.log('fastrec: using the existing native addon');
  process.exit(0);
}
console.log('fastrec: no prebuilt binary fits this platform; compiling the native addon from source (cmake-js)');
const r = spawnSync(process.execPath, [join(root, 'native', 'build.mjs'), '--no-tests'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
