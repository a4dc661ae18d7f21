#!/usr/bin/env node
// prebuildify calls this in place of node-gyp ("rebuild ..."): build a
// stripped release addon with cmake-js into build/Release, where prebuildify
// picks it up. Only the release flags matter; other node-gyp arguments are ignored.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const r = spawnSync(process.execPath, [join(root, 'native', 'build.mjs'), '--no-tests'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
