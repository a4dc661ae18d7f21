import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFittedError, UnknownIdError, csrRow, type Dataset } from '../lib/index.js';
import { HybridRecommender } from '../lib/hybrid/recommender.js';
import { ComplementSource, ContentSource, ItemToItemSource, PopularSource, TrendingSource, NewArrivalsSource } from '../lib/hybrid/sources.js';
import { planted, itemId, CATEGORIES, COMPLEMENT, type Planted } from './hybrid-fixtures.js';

let p: Planted;
let ds: Dataset;
let h: HybridRecommender;
const catOf = (id: unknown) => String(id).split('-')[0]!;

beforeAll(async () => {
  p = await planted();
  ds = p.dataset;
  h = new HybridRecommender({ content: { dim: 8 }, categoryColumn: 'category' });
  await h.fit(ds, { seed: 3 });
});

/** Every (user id -> item ids) in the training log. */
function historyOf(u: string): Set<string> {
  const idx = ds.users.index(u)!;
  return new Set(Array.from(csrRow(ds.matrix, idx).indices, (i) => String(ds.items.id(i))));
}

describe('hybrid recommender: ranking', () => {
  it('recommends the user\'s home category and its complement, never seen items', () => {
    for (let u = 0; u < 12; u++) {
      const user = `u${u}`;
      const r = h.recommend(user, { k: 8 });
      expect(r.items.length).toBe(8);
      const seen = historyOf(user);
      for (const id of r.items) expect(seen.has(String(id))).toBe(false);
      const home = p.home.get(user)!;
      const good = r.items.slice(0, 4).filter((id) => catOf(id) === home || catOf(id) === COMPLEMENT[home]).length;
      expect(good).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < r.scores.length; i++) expect(r.scores[i]!).toBeLessThanOrEqual(r.scores[i - 1]!);
    }
  });

  it('a filtered item never appears, for any user or context', () => {
    const banned = itemId('pasta', 1);
    for (let u = 0; u < 60; u++) {
      const r = h.recommend(`u${u}`, { k: 20, rules: { filters: [{ column: 'category', notIn: ['soap'] }, { items: [banned], not: true }] } });
      for (const id of r.items) {
        expect(catOf(id)).not.toBe('soap');
        expect(id).not.toBe(banned);
      }
    }
    const only = h.recommend('u0', { k: 30, rules: { filters: [{ column: 'category', in: ['milk'] }] } });
    expect(only.items.length).toBeGreaterThan(0);
    for (const id of only.items) expect(catOf(id)).toBe('milk');
    const cheap = h.recommendForHistory([itemId('milk', 0)], { k: 30, rules: { filters: [{ column: 'price', max: 3 }] } });
    for (const id of cheap.items) expect(Number(String(id).split('-')[1]) + 1).toBeLessThanOrEqual(3);
    const b = h.basket([itemId('pasta', 0)], { k: 10, rules: { filters: [{ column: 'brand', equals: 'Private' }] } });
    for (const id of b.items) expect(Number(String(id).split('-')[1]) % 3).toBe(0);
    // A function predicate.
    const f = h.recommend('u3', { k: 15, rules: { filters: [(id) => !String(id).endsWith('-2')] } });
    for (const id of f.items) expect(String(id).endsWith('-2')).toBe(false);
  });

  it('pins appear where pinned, unless a hard filter removes them', () => {
    const pinA = itemId('soap', 11);
    const pinB = itemId('shampoo', 10);
    for (const u of ['u0', 'u1', 'u7']) {
      const r = h.recommend(u, { k: 6, rules: { pins: [{ item: pinA, position: 0 }, { item: pinB, position: 4 }] }, explain: true });
      expect(r.items[0]).toBe(pinA);
      expect(r.items[4]).toBe(pinB);
      expect(r.items.length).toBe(6);
      expect(new Set(r.items).size).toBe(6);
      expect(r.reasons![0]![0]!.kind).toBe('pin');
    }
    const filtered = h.recommend('u0', { k: 6, rules: { pins: [{ item: pinA, position: 0 }], filters: [{ column: 'category', notIn: ['soap'] }] } });
    expect(filtered.items).not.toContain(pinA);
  });

  it('category caps hold', () => {
    for (let u = 0; u < 30; u++) {
      for (const lambda of [1, 0.5]) {
        const r = h.recommend(`u${u}`, { k: 10, diversity: { cap: 2, lambda } });
        const per = new Map<string, number>();
        for (const id of r.items) per.set(catOf(id), (per.get(catOf(id)) ?? 0) + 1);
        for (const n of per.values()) expect(n).toBeLessThanOrEqual(2);
        expect(r.items.length).toBe(10);
      }
    }
  });

  it('boosts lift matching items; dedupe keeps one item per key', () => {
    const plain = h.recommend('u0', { k: 10 });
    const boosted = h.recommend('u0', { k: 10, rules: { boosts: [{ when: { column: 'category', in: ['milk'] }, add: 10, name: 'dairy week' }] }, explain: true });
    expect(catOf(boosted.items[0])).toBe('milk');
    expect(boosted.reasons![0]!.some((r) => r.kind === 'boost' && r.text.includes('dairy week'))).toBe(true);
    expect(plain.items[0]).not.toBe(boosted.items[0]);
    const d = h.recommend('u0', { k: 10, rules: { dedupe: { columns: ['category', 'brand'] } } });
    const keys = d.items.map((id) => `${catOf(id)}/${Number(String(id).split('-')[1]) % 3 === 0 ? 'P' : Number(String(id).split('-')[1]) % 4}`);
    expect(new Set(keys).size).toBe(keys.length);
    const byVec = h.recommend('u0', { k: 10, rules: { dedupe: { similarity: 0.999 } } });
    const c = h.fittedCatalog.content!;
    for (let a = 0; a < byVec.indices.length; a++) for (let b = a + 1; b < byVec.indices.length; b++) expect(c.similarity(byVec.indices[a]!, byVec.indices[b]!)).toBeLessThan(0.999);
  });

  it('lower MMR lambda raises intra-list diversity', () => {
    const c = h.fittedCatalog.content!;
    const ild = (lambda: number) => {
      let s = 0;
      for (let u = 0; u < 30; u++) {
        const r = h.recommend(`u${u}`, { k: 10, diversity: { lambda } });
        let sum = 0;
        let n = 0;
        for (let a = 0; a < r.indices.length; a++) for (let b = a + 1; b < r.indices.length; b++, n++) sum += 1 - c.similarity(r.indices[a]!, r.indices[b]!);
        s += sum / n;
      }
      return s / 30;
    };
    expect(ild(0.3)).toBeGreaterThan(ild(1) + 0.05);
  });

  it('exploration is seeded: same seed same list, and it changes lists', () => {
    const a = h.recommend('u2', { k: 10, diversity: { explore: 0.5, seed: 1 } });
    const b = h.recommend('u2', { k: 10, diversity: { explore: 0.5, seed: 1 } });
    const c = h.recommend('u2', { k: 10 });
    expect(a.items).toEqual(b.items);
    expect(a.items).not.toEqual(c.items);
  });
});

describe('hybrid recommender: explanations name real evidence', () => {
  it('every reason points at items the user bought, real co-purchases or real counts', () => {
    const log = ds.log;
    // Baskets as the signals define them (same user, <= 30 minutes apart): check complement counts independently.
    for (let u = 0; u < 12; u++) {
      const user = `u${u}`;
      const seen = historyOf(user);
      const r = h.recommend(user, { k: 10, explain: true });
      expect(r.reasons!.length).toBe(r.items.length);
      r.reasons!.forEach((reasons, n) => {
        expect(reasons.length).toBeGreaterThan(0);
        for (let q = 1; q < reasons.length; q++) expect(reasons[q]!.contribution).toBeLessThanOrEqual(reasons[q - 1]!.contribution);
        for (const reason of reasons) {
          if (reason.kind === 'similar' || reason.kind === 'content' || reason.kind === 'history') {
            for (const id of reason.items!) expect(seen.has(String(id))).toBe(true);
          }
          if (reason.kind === 'content') {
            // "same category" is claimed only when it is true.
            if (reason.text.includes('category')) expect(catOf(reason.items![0])).toBe(catOf(r.items[n]));
          }
          if (reason.kind === 'complement') {
            const a = ds.items.index(reason.items![0]!)!;
            const b = r.indices[n]!;
            // Baskets rebuilt independently: a user's events sorted by time, split where the gap exceeds 30 minutes.
            const events = Array.from({ length: log.users.length }, (_, e) => e).sort((x, y) => log.users[x]! - log.users[y]! || log.timestamps[x]! - log.timestamps[y]!);
            let together = 0;
            let basket = new Set<number>();
            events.forEach((e, q) => {
              const prev = events[q - 1];
              if (prev !== undefined && (log.users[prev] !== log.users[e] || log.timestamps[e]! - log.timestamps[prev]! > 30 * 60_000)) {
                if (basket.has(a) && basket.has(b)) together++;
                basket = new Set();
              }
              basket.add(log.items[e]!);
            });
            if (basket.has(a) && basket.has(b)) together++;
            expect(reason.count).toBeGreaterThan(0);
            expect(reason.text).toContain(`together in ${reason.count} baskets`);
            expect(together).toBe(reason.count!);
            expect(seen.has(String(reason.items![0]))).toBe(true);
          }
          if (reason.kind === 'popular' || reason.kind === 'trending') {
            expect(reason.category).toBe(catOf(r.items[n]));
          }
          if (reason.kind === 'popular' && reason.count !== undefined) {
            const i = r.indices[n]!;
            expect(reason.count).toBe(ds.itemRow(i).users.length);
          }
        }
      });
    }
  });

  it('explain(user, item) decomposes the score into sources', () => {
    const r = h.recommend('u0', { k: 3 });
    const e = h.explain('u0', r.items[0]!);
    expect(e.item).toBe(r.items[0]);
    expect(e.score).toBeCloseTo(r.scores[0]!, 5);
    const total = e.reasons.reduce((a, b) => a + b.contribution, 0);
    expect(total).toBeCloseTo(e.score, 5);
    expect(() => h.explain('nobody', r.items[0]!)).toThrow(UnknownIdError);
    expect(() => h.explain('u0', 'no-item')).toThrow(UnknownIdError);
  });
});

describe('hybrid recommender: contexts', () => {
  it('basket: complements of the cart, not substitutes', async () => {
    for (const cat of CATEGORIES) {
      const b = h.basket([itemId(cat, 0), itemId(cat, 1)], { k: 5, explain: true });
      expect(b.items.length).toBeGreaterThan(0);
      for (const id of b.items) expect(catOf(id)).toBe(COMPLEMENT[cat]);
      expect(b.items).not.toContain(itemId(cat, 0));
      for (const reasons of b.reasons!) expect(reasons[0]!.kind).toBe('complement');
    }
  });

  it('content similarity removes substitutes that co-occur more often than complements', async () => {
    const { Interactions, Dataset } = await import('../lib/index.js');
    const { plantedFeatures, T0, DAY } = await import('./hybrid-fixtures.js');
    const inter = new Interactions();
    // Shoppers stock up on two pasta brands together (substitutes, 10 baskets) more often than pasta + sauce (6 baskets).
    for (let b = 0; b < 16; b++) {
      const t = T0 + b * DAY;
      inter.add(`s${b}`, itemId('pasta', 0), 1, undefined, t);
      inter.add(`s${b}`, b < 10 ? itemId('pasta', 1) : itemId('sauce', 0), 1, undefined, t);
    }
    const d = await Dataset.build(inter, { itemFeatures: plantedFeatures() });
    const mk = (beta: number) => new HybridRecommender({ sources: [new ComplementSource({ substitutePenalty: beta })], content: { dim: 8 }, categoryColumn: 'category' });
    const withPenalty = await mk(1).fit(d);
    const without = await mk(0).fit(d);
    expect(without.basket([itemId('pasta', 0)], { k: 1 }).items[0]).toBe(itemId('pasta', 1));
    expect(withPenalty.basket([itemId('pasta', 0)], { k: 1 }).items[0]).toBe(itemId('sauce', 0));
  });

  it('product page: similar items share attributes; complementary ones are bought with it', () => {
    const page = h.productPage(itemId('milk', 0), { k: 5, explain: true });
    for (const id of page.similar.items) expect(catOf(id)).toBe('milk');
    for (const id of page.complementary.items) expect(catOf(id)).toBe('cereal');
    expect(page.similar.items).not.toContain(itemId('milk', 0));
    const sim = h.similarItems(itemId('soap', 3), 4);
    for (const id of sim.items) expect(['soap', 'shampoo']).toContain(catOf(id));
  });

  it('because you viewed X: explained by X', () => {
    const x = itemId('cereal', 2);
    const r = h.becauseYouViewed(x, { k: 5, explain: true, user: 'u3' });
    expect(r.items.length).toBe(5);
    for (const reasons of r.reasons!) expect(reasons.some((q) => q.items?.includes(x))).toBe(true);
    const seen = historyOf('u3');
    for (const id of r.items) expect(seen.has(String(id))).toBe(false);
  });

  it('new visitors: fold-in from a few events; no events: popularity within the category', () => {
    const v = h.recommendForHistory([itemId('shampoo', 0), itemId('shampoo', 3)], { k: 5 });
    for (const id of v.items.slice(0, 3)) expect(['shampoo', 'soap']).toContain(catOf(id));
    const cold = h.recommendForHistory([], { k: 5, category: 'cereal', explain: true });
    expect(cold.items.length).toBe(5);
    for (const id of cold.items) expect(catOf(id)).toBe('cereal');
    // Popularity within the category: the most bought cereal first.
    const pop = h.recommendForHistory([], { k: 3, category: 'cereal', sources: ['popular'], explain: true });
    const counts = Array.from({ length: 12 }, (_, j) => ds.itemRow(ds.items.index(itemId('cereal', j))!).users.length);
    expect(ds.itemRow(pop.indices[0]!).users.length).toBe(Math.max(...counts));
    expect(pop.reasons![0]![0]!.text).toContain('popular in cereal');
  });

  it('recommendMany equals recommend per user', async () => {
    const users = ['u0', 'u5', 'u9'];
    const m = await h.recommendMany(users, { k: 4 });
    expect(m.count).toBe(3);
    users.forEach((u, r) => expect(Array.from(m.indices.subarray(r * 4, r * 4 + 4))).toEqual(Array.from(h.recommend(u, { k: 4 }).indices)));
  });
});

describe('hybrid recommender: learned weights', () => {
  it('are reproducible by seed and differ across seeds', async () => {
    const fit = async (seed: number) => {
      const m = new HybridRecommender({ content: { dim: 8 }, categoryColumn: 'category' });
      await m.fit(ds, { seed, learnWeights: { fraction: 0.25, negatives: 5 } });
      return m;
    };
    const a = await fit(1);
    const b = await fit(1);
    const c = await fit(2);
    expect(a.learnedWeights!.positives).toBeGreaterThan(10);
    expect(a.blendWeights).toEqual(b.blendWeights);
    expect(a.blendWeights).not.toEqual(c.blendWeights);
    expect(a.recommend('u1').items).toEqual(b.recommend('u1').items);
  });
});

describe('hybrid recommender: invalid input', () => {
  it('gives typed errors naming the argument', async () => {
    const fresh = new HybridRecommender();
    expect(() => fresh.recommend('u0')).toThrow(NotFittedError);
    expect(() => new HybridRecommender({ weight: {} } as never)).toThrow(/did you mean 'weights'/);
    expect(() => new HybridRecommender({ normalization: 'log' as never })).toThrow(/options.normalization/);
    expect(() => new HybridRecommender({ diversity: { lambda: 2 } })).toThrow(/options.diversity.lambda/);
    expect(() => new HybridRecommender({ rules: { pins: [{ item: 'a', position: -1 }] } })).toThrow(/options.rules.pins\[0\].position/);
    expect(() => new HybridRecommender({ sources: [new TrendingSource(), new TrendingSource()] })).toThrow(/a name no other source uses/);
    expect(() => new HybridRecommender({ sources: [{} as never] })).toThrow(/CandidateSource/);
    expect(() => h.recommend('nobody')).toThrow(UnknownIdError);
    expect(() => h.recommend('u0', { k: 0 })).toThrow(/options.k/);
    expect(() => h.recommend('u0', { context: 'checkout' as never })).toThrow(/options.context/);
    expect(() => h.recommend('u0', { item: 'nope' })).toThrow(/options.item/);
    expect(() => h.recommend('u0', { category: 'toys' })).toThrow(/options.category/);
    expect(() => h.recommend('u0', { rules: { filters: [{ column: 'colour', in: ['red'] }] } })).toThrow(/column/);
    expect(() => h.recommend('u0', { rules: { filters: [{ column: 'category', inn: ['x'] } as never] } })).toThrow(/did you mean 'in'/);
    expect(() => h.recommend('u0', { diversity: { cap: 0 } })).toThrow(/options.diversity.cap/);
    expect(() => h.recommend('u0', { rules: { dedupe: { columns: ['nope'] } } })).toThrow(InvalidArgumentError);
    expect(() => h.basket([])).toThrow(/items/);
    expect(() => h.recommendForHistory([{ item: 'pasta-0', value: -1 }])).toThrow(/history\[0\].value/);
    await expect(h.fit({} as never)).rejects.toThrow(/dataset/);
    await expect(new HybridRecommender({ sources: [new ContentSource()], content: false }).fit(ds)).rejects.toThrow(/item features/);
    const ac = new AbortController();
    ac.abort();
    await expect(new HybridRecommender().fit(ds, { signal: ac.signal })).rejects.toThrow(/aborted/);
    void [ItemToItemSource, PopularSource, NewArrivalsSource];
  });
});

describe('hybrid recommender: persistence', () => {
  it('save -> load gives the same recommendations, explanations and weights', async () => {
    const { saveModel, loadModel } = await import('../lib/index.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { AlsModel } = await import('../lib/index.js');
    const { FactorSource, ColdStartSource, RepurchaseSource, CategoryAffinitySource } = await import('../lib/hybrid/sources.js');
    const { defaultSources } = await import('../lib/hybrid/recommender.js');
    const factor = new FactorSource(new AlsModel({ factors: 8, iterations: 5 }), { name: 'als' });
    const m = new HybridRecommender({
      sources: [factor, new ColdStartSource(factor), new RepurchaseSource(), ...defaultSources(true, true)],
      content: { dim: 8 },
      categoryColumn: 'category',
      labelColumn: 'title',
      rules: { filters: [{ column: 'category', notIn: ['soap'] }, () => true], boosts: [{ when: { column: 'brand', in: ['Private'] }, multiply: 1.1 }] },
      diversity: { lambda: 0.8 },
    });
    await m.fit(ds, { seed: 4 });
    void CategoryAffinitySource;
    const dir = mkdtempSync(join(tmpdir(), 'fastrec-hybrid-'));
    try {
      const file = join(dir, 'h.fastrec');
      await saveModel(m, file);
      const back = (await loadModel(file)) as HybridRecommender;
      expect(back).toBeInstanceOf(HybridRecommender);
      expect(back.blendWeights).toEqual(m.blendWeights);
      for (const u of ['u0', 'u7', 'u13']) {
        const a = m.recommend(u, { k: 8, explain: true });
        const b = back.recommend(u, { k: 8, explain: true });
        expect(b.items).toEqual(a.items);
        expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
        expect(b.reasons).toEqual(a.reasons);
        for (const id of b.items) expect(catOf(id)).not.toBe('soap');
      }
      expect(back.basket([itemId('milk', 1)], { k: 4 }).items).toEqual(m.basket([itemId('milk', 1)], { k: 4 }).items);
      expect(back.recommendForHistory([itemId('pasta', 2)], { k: 5 }).items).toEqual(m.recommendForHistory([itemId('pasta', 2)], { k: 5 }).items);
      expect(() => HybridRecommender.fromState({ ...m.toState(), kind: 'als' })).toThrow(/kind 'hybrid'/);
      expect(() => HybridRecommender.fromState({ ...m.toState(), version: 99 })).toThrow(/upgrade/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hybrid recommender: factor, cold-start, repurchase and affinity sources', () => {
  it('cold items are scored from their attributes: the user\'s categories first', async () => {
    const { AlsModel } = await import('../lib/index.js');
    const { FactorSource, ColdStartSource } = await import('../lib/hybrid/sources.js');
    const q = await planted(60, 7, true);
    const factor = new FactorSource(new AlsModel({ factors: 8, iterations: 8 }), { name: 'als' });
    const cold = new ColdStartSource(factor, { categoryWeight: 0 }); // the projection alone
    const m = new HybridRecommender({ sources: [factor, cold], content: { dim: 8 }, categoryColumn: 'category' });
    await m.fit(q.dataset, { seed: 2 });
    const coldIds = Array.from(cold.coldItems, (i) => String(q.dataset.items.id(i)));
    const newIds = CATEGORIES.map((c) => `${c}-new`);
    for (const id of newIds) expect(coldIds).toContain(id);
    // Every cold item has no buyer.
    for (const i of cold.coldItems) expect(q.dataset.itemRow(i).users.length).toBe(0);
    let hits = 0;
    for (let u = 0; u < 60; u++) {
      const user = `u${u}`;
      const home = q.home.get(user)!;
      const r = m.recommend(user, { k: 2, sources: ['coldstart'], include: newIds, explain: true });
      expect(r.items.length).toBe(2);
      if (r.items.includes(`${home}-new`) || r.items.includes(`${COMPLEMENT[home]}-new`)) hits++;
      expect(r.reasons![0]![0]!.kind).toBe('coldstart');
      expect(r.reasons![0]![0]!.text).toContain('not yet bought by anyone');
    }
    // 2 of 6 categories are right for each user: chance is about 60%; the projection gets nearly all.
    expect(hits).toBeGreaterThanOrEqual(54);
    // Factor evidence names items the user really bought.
    const f = m.recommend('u4', { k: 5, sources: ['als'], explain: true });
    const seen = new Set(Array.from(csrRow(q.dataset.matrix, q.dataset.users.index('u4')!).indices, (i) => String(q.dataset.items.id(i))));
    for (const reasons of f.reasons!) for (const id of reasons[0]!.items ?? []) expect(seen.has(String(id))).toBe(true);
    // Through an ANN index over the same factors: the same candidates on this small catalog.
    const { AnnScorer } = await import('../lib/index.js');
    const annFactor = new FactorSource(factor.model!, { name: 'ann', retriever: (f, d) => AnnScorer.build(f, d, { ef: 200 }) });
    const viaAnn = new HybridRecommender({ sources: [annFactor], content: false });
    await viaAnn.fit(q.dataset, { seed: 2 });
    for (const u of ['u1', 'u8', 'u30']) {
      expect(viaAnn.recommend(u, { k: 5 }).items).toEqual(m.recommend(u, { k: 5, sources: ['als'] }).items);
    }
    // A new visitor is folded in.
    const v = m.recommendForHistory([itemId('soap', 0), itemId('soap', 1)], { k: 3, sources: ['als'] });
    expect(v.items.filter((id) => ['soap', 'shampoo'].includes(catOf(id))).length).toBeGreaterThanOrEqual(2);
  });

  it('buy it again proposes the user\'s own items only when seen items are allowed', async () => {
    const { RepurchaseSource, CategoryAffinitySource } = await import('../lib/hybrid/sources.js');
    const m = new HybridRecommender({ sources: [new RepurchaseSource(), new CategoryAffinitySource()], content: { dim: 8 }, categoryColumn: 'category' });
    await m.fit(ds, { seed: 1 });
    const seen = historyOf('u5');
    const again = m.recommend('u5', { k: 5, filterSeen: false, sources: ['again'], explain: true });
    expect(again.items.length).toBe(Math.min(5, seen.size));
    for (const id of again.items) expect(seen.has(String(id))).toBe(true);
    for (const reasons of again.reasons!) expect(reasons[0]!.text).toMatch(/you bought .* before \(\d+ times\)/);
    expect(m.recommend('u5', { k: 5, sources: ['again'] }).items).toEqual([]);
    const aff = m.recommend('u5', { k: 6, sources: ['affinity'], explain: true });
    const home = p.home.get('u5')!;
    for (const id of aff.items) expect([home, COMPLEMENT[home]]).toContain(catOf(id));
    for (const reasons of aff.reasons!) expect(reasons[0]!.text).toMatch(/a category you buy \(\d+ of your items\)/);
  });
});
