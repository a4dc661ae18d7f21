"""Independent cross-check of bench/als-cj.mjs in numpy/scipy (no fastrec code).

Usage: python3 bench/tools/cj_numpy_check.py [--biased] [lib/demo/data/completejourney/transactions.csv]

The same protocol as bench/als-cj.mjs: the last 20% of events (timestamp quantile)
are test; users with training and test events; test items never bought in
training are not relevant; NDCG@10 with binary relevance. Prints most-popular,
item-kNN (cosine over buyers, all neighbours, log1p(receipt lines) history
weights) and a dense-solve implicit ALS (Hu, Koren & Volinsky: confidence
1 + alpha * log1p(lines), preference 1, every unobserved cell weight 1, exact
normal equations per row) for the 'new' (training items filtered) and 'next'
(repeats allowed) tasks. --biased adds implicit ALS with a learned item bias
(prediction x_u . y_i + b_i), an idea for the library that is not in it yet.
"""
import csv
import sys
from datetime import datetime

import numpy as np
import scipy.sparse as sp

biased = '--biased' in sys.argv
args = [a for a in sys.argv[1:] if a != '--biased']
path = args[0] if args else 'lib/demo/data/completejourney/transactions.csv'
users, items, times = {}, {}, []
u_col, i_col = [], []
for row in csv.DictReader(open(path)):
    u_col.append(users.setdefault(row['household_id'], len(users)))
    i_col.append(items.setdefault(row['product_id'], len(items)))
    times.append(datetime.fromisoformat(row['transaction_timestamp'].replace('Z', '+00:00')).timestamp())
u_col, i_col, times = np.array(u_col), np.array(i_col), np.array(times)
U, I = len(users), len(items)

cut = np.quantile(times, 0.8)
train_mask = times < cut


def lines(mask):
    m = sp.coo_matrix((np.ones(mask.sum()), (u_col[mask], i_col[mask])), shape=(U, I)).tocsr()
    m.sum_duplicates()
    return m


train, test = lines(train_mask), lines(~train_mask)
bought = (train > 0).astype(np.float64).tocsr()
buyers = np.asarray(bought.sum(0)).ravel()
scored = [u for u in range(U) if train.indptr[u + 1] > train.indptr[u] and test.indptr[u + 1] > test.indptr[u]]
discount = 1 / np.log2(np.arange(2, 12))


def row(m, u):
    return m.indices[m.indptr[u]:m.indptr[u + 1]]


def ndcg(scores, filter_seen):
    total, n = 0.0, 0
    for r, u in enumerate(scored):
        relevant = {i for i in row(test, u) if buyers[i] > 0}
        if filter_seen:
            relevant -= set(row(train, u))
        if not relevant:
            continue
        s = scores[r].astype(np.float64).copy()
        if filter_seen:
            s[row(train, u)] = -np.inf
        top = np.argpartition(-s, 10)[:10]
        top = top[np.argsort(-s[top], kind='stable')]
        dcg = sum(discount[j] for j, i in enumerate(top) if i in relevant)
        total += dcg / discount[:min(10, len(relevant))].sum()
        n += 1
    return total / n


weights = train.copy()
weights.data = np.log1p(weights.data)
tie = -1e-9 * np.arange(I)  # popularity ties: smaller index first

popular = np.tile(buyers + tie, (len(scored), 1))

norm = np.sqrt(buyers) + 1e-12
unit = bought @ sp.diags(1 / norm)
similarity = (unit.T @ unit).tocsr()
similarity.setdiag(0)
similarity.eliminate_zeros()
item_knn = (weights[scored] @ similarity).toarray()


def implicit_als(c, k=32, alpha=10.0, reg=0.1, iterations=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.01, (c.shape[0], k))
    y = rng.normal(0, 0.01, (c.shape[1], k))
    ct = c.T.tocsr()

    def solve(out, fixed, m):
        gram = fixed.T @ fixed
        for r in range(m.shape[0]):
            lo, hi = m.indptr[r], m.indptr[r + 1]
            if lo == hi:
                out[r] = 0
                continue
            f = fixed[m.indices[lo:hi]]
            conf = 1 + alpha * m.data[lo:hi]
            a = gram + (f.T * (conf - 1)) @ f + reg * np.eye(k)
            out[r] = np.linalg.solve(a, f.T @ conf)

    for _ in range(iterations):
        solve(x, y, c)
        solve(y, x, ct)
    return x, y


x, y = implicit_als(weights)
als = x[scored] @ y.T

print(f'{len(scored)} users with training and test events')
for name, scores in [('most-popular', popular), ('item-kNN cosine, all neighbours', item_knn),
                     ('ALS k 32, alpha 10, lambda 0.1, log1p', als)]:
    print(f'{name:40s} new {ndcg(scores, True):.4f}  next {ndcg(scores, False):.4f}')


def biased_als(c, k, alpha, reg, bias_reg=0.1, iterations=10, seed=0):
    """Implicit ALS whose users carry a constant last coordinate 1, so each item learns a bias b_i."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.01, (c.shape[0], k))
    y = rng.normal(0, 0.01, (c.shape[1], k))
    b = np.zeros(c.shape[1])
    ct = c.T.tocsr()
    for _ in range(iterations):
        # Users: target p - b_i on every cell (p = 1 observed, 0 elsewhere), weights 1 + alpha * w observed, 1 elsewhere.
        gram, yb = y.T @ y, y.T @ b
        for u in range(c.shape[0]):
            lo, hi = c.indptr[u], c.indptr[u + 1]
            if lo == hi:
                x[u] = 0
                continue
            idx = c.indices[lo:hi]
            f, conf = y[idx], 1 + alpha * c.data[lo:hi]
            a = gram + (f.T * (conf - 1)) @ f + reg * np.eye(k)
            x[u] = np.linalg.solve(a, f.T @ (conf * (1 - b[idx]) + b[idx]) - yb)
        # Items: [y_i, b_i] against [x_u, 1].
        xa = np.hstack([x, np.ones((c.shape[0], 1))])
        gram, penalty = xa.T @ xa, np.diag([reg] * k + [bias_reg])
        for i in range(c.shape[1]):
            lo, hi = ct.indptr[i], ct.indptr[i + 1]
            if lo == hi:
                y[i], b[i] = 0, 0
                continue
            f, conf = xa[ct.indices[lo:hi]], 1 + alpha * ct.data[lo:hi]
            s = np.linalg.solve(gram + (f.T * (conf - 1)) @ f + penalty, f.T @ conf)
            y[i], b[i] = s[:k], s[k]
    return x, y, b


if biased:
    for k, alpha, reg in [(64, 10, 50), (128, 10, 50)]:
        bx, by, bb = biased_als(weights, k, alpha, reg)
        scores = bx[scored] @ by.T + bb[None, :]
        print(f'{f"ALS with item bias k {k}, alpha {alpha}, lambda {reg}":40s} new {ndcg(scores, True):.4f}  next {ndcg(scores, False):.4f}')
