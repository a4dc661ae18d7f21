/**
 * The demo's HTML report rendered by a real browser (headless Chromium, when
 * one is installed: `apt install chromium`; otherwise skipped and counted as
 * such): the page loads, and its three inline SVG charts are drawn, seen as
 * pixels of each model's series colour in the screenshot.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { writeReport, type DemoResult } from '../lib/demo/report.js';

const browser = ['chromium', 'chromium-browser', 'google-chrome'].find((b) => spawnSync('which', [b]).status === 0);

/** RGB of every pixel of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are). */
function decodePng(png: Buffer): { width: number; height: number; rgb: (x: number, y: number) => [number, number, number] } {
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString();
    const data = png.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[12]]).toEqual([8, 0]); // 8 bits per sample, not interlaced
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[y * stride + i - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? px[(y - 1) * stride + i - channels]! : 0;
      const p = a + b - c;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      px[y * stride + i] = (line[i]! + pred) & 255;
    }
  }
  return { width, height, rgb: (x, y) => [px[y * stride + x * channels]!, px[y * stride + x * channels + 1]!, px[y * stride + x * channels + 2]!] };
}

function report(): DemoResult {
  const models = ['als', 'popular'].map((name, m) => ({
    name,
    description: name,
    fitSeconds: 0.1,
    evalSeconds: 0.1,
    metrics: Object.fromEntries([1, 5, 10, 20].flatMap((k) => [[`recall@${k}`, 0.05 * (m + 1) * Math.log2(k + 1)], [`ndcg@${k}`, 0.1 * (m + 1)], [`precision@${k}`, 0.02 * (m + 1)]])),
    ...(m === 0 ? { loss: [5, 3, 2.5, 2.2, 2.1] } : {}),
  }));
  return {
    title: 'render check',
    createdAt: '2026-11-23T00:00:00Z',
    environment: { node: process.version },
    dataset: { households: 2 },
    split: { strategy: 'time' },
    k: [1, 5, 10, 20],
    tableMetrics: ['precision', 'recall', 'ndcg'],
    tableK: 10,
    models,
    examples: [{ user: 'u1', history: [{ item: 1, label: 'Bananas' }], heldOut: [{ item: 2, label: 'Milk' }], recommendations: [{ model: 'als', items: [{ item: 3, label: 'Eggs', score: 0.5, why: 'because they bought Bananas' }] }] }],
    notes: [],
  };
}

describe('the demo report in a real browser', () => {
  it.skipIf(!browser)('renders its tables and draws its three charts', () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-report-'));
    try {
      const html = writeReport(dir, report());
      const shot = join(dir, 'shot.png');
      const r = spawnSync(browser!, ['--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1000,2000', `--screenshot=${shot}`, `file://${html}`], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const img = decodePng(fs.readFileSync(shot));
      expect([img.width, img.height]).toEqual([1000, 2000]);
      // Each model's series colour (svg.ts PALETTE: #1f77b4, #d62728) drawn in the charts, and text on the page.
      const near = (p: number[], q: number[]) => Math.abs(p[0]! - q[0]!) + Math.abs(p[1]! - q[1]!) + Math.abs(p[2]! - q[2]!) < 40;
      let blue = 0;
      let red = 0;
      let ink = 0;
      for (let y = 0; y < img.height; y += 2) {
        for (let x = 0; x < img.width; x += 2) {
          const p = img.rgb(x, y);
          if (near(p, [0x1f, 0x77, 0xb4])) blue++;
          if (near(p, [0xd6, 0x27, 0x28])) red++;
          if (p[0] + p[1] + p[2] < 200) ink++;
        }
      }
      expect(blue).toBeGreaterThan(300);
      expect(red).toBeGreaterThan(300);
      expect(ink).toBeGreaterThan(2000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
