// String-id Interactions ingestion from JS arrays: rows per second through
// the column API (fromColumns), one add() per row, and records (Interactions.from).
// Wall time is the median of 3 runs; cpuSeconds (the least CPU time of the runs)
// shows how much of it was spent on this process when the machine is shared.
// Usage: node bench/ingest.mjs [--rows 4000000] [--users 200000] [--items 50000]
// Target (issue 2): at least 2 million rows per second from JS arrays.
import { Interactions, Dataset } from '../dist/index.js';
import { writeResult, medianSeconds, rng } from './harness.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const rows = arg('rows', 4_000_000);
const nUsers = arg('users', 200_000);
const nItems = arg('items', 50_000);

// Ids as fresh strings, like ids parsed from a file or a database driver.
const rand = rng(7);
const users = new Array(rows);
const items = new Array(rows);
const values = new Float64Array(rows);
const events = new Array(rows);
const kinds = ['view', 'view', 'view', 'cart', 'purchase'];
for (let i = 0; i < rows; i++) {
  users[i] = `user-${(rand() * nUsers) | 0}`;
  items[i] = `sku-${(rand() * nItems) | 0}`;
  values[i] = 1 + ((rand() * 3) | 0);
  events[i] = kinds[(rand() * kinds.length) | 0];
}

const results = { rows, users: nUsers, items: nItems, modes: [] };
async function mode(name, fn, reps = 3) {
  let log;
  let cpu = 0;
  const s = await medianSeconds(() => {
    const c = process.cpuUsage();
    log = fn();
    const used = process.cpuUsage(c);
    cpu = Math.min(cpu || Infinity, (used.user + used.system) / 1e6);
  }, reps, 1);
  if (log.length !== rows) throw new Error(`${name}: ${log.length} rows, expected ${rows}`);
  const row = { mode: name, seconds: +s.toFixed(3), millionRowsPerSecond: +(rows / s / 1e6).toFixed(2), cpuSeconds: +cpu.toFixed(3) };
  results.modes.push(row);
  console.log(JSON.stringify(row));
  return log;
}

const log = await mode('fromColumns(users, items, values)', () => Interactions.fromColumns({ users, items, values }));
await mode('fromColumns(users, items, values, events)', () => Interactions.fromColumns({ users, items, values, events }));
await mode('add() per row', () => {
  const l = new Interactions();
  for (let i = 0; i < rows; i++) l.add(users[i], items[i], values[i]);
  return l;
});
const records = users.map((user, i) => ({ user, item: items[i], value: values[i] }));
await mode('Interactions.from(records)', () => {
  // from() is async (it accepts async iterables); time the synchronous core via addRecord.
  const l = new Interactions();
  for (const r of records) l.addRecord(r);
  return l;
});

// The step after ingestion: the user x item CSR and its transpose (2 threads).
const s = await medianSeconds(() => Dataset.build(log, { threads: 2 }), 3, 1);
results.datasetBuildSeconds = +s.toFixed(3);
console.log(`Dataset.build: ${s.toFixed(3)} s`);
await writeResult('ingest', results);
