/**
 * `fastrec demo`: load the built-in data and run the main job on it.
 */
import { completeJourneyDataset } from '../demo/data.js';
import { simd } from '../native.js';

export async function runDemo(args: string[]): Promise<number> {
  const started = performance.now();
  const ds = await completeJourneyDataset();
  const secs = ((performance.now() - started) / 1000).toFixed(2);
  process.stdout.write(
    `fastrec demo (SIMD: ${simd()})\n` +
      `Complete Journey sample: ${ds.numUsers} households x ${ds.numItems} products, ${ds.nnz} distinct purchases from ${ds.log.users.length} receipt lines (${secs} s)\n`,
  );
  void args;
  return 0;
}
