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

// A prebuilt binary that loads is used as is. Anything else (a local build
// from an earlier install, or nothing) is (re)built: cmake's incremental build
// makes that cheap when the sources have not changed, and it keeps a checkout
// that pulled new native code from loading a stale addon.
function prebuiltLoads() {
  try {
    const nodeGypBuild = require('node-gyp-build');
    const path = nodeGypBuild.path(root);
    if (!path.includes(`${join('prebuilds', '')}`)) return false;
    require(path);
    return true;
  } catch {
    return false;
  }
}

if (process.env.FASTREC_SKIP_BUILD === '1') process.exit(0);
if (prebuiltLoads()) {
  console.log('fastrec: using the prebuilt native addon');
  process.exit(0);
}
console.log('fastrec: building the native addon from source (cmake-js); no prebuilt binary fits this platform');
const r = spawnSync(process.execPath, [join(root, 'native', 'build.mjs'), '--no-tests'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
