#!/usr/bin/env python3
"""Which CG preconditioner for implicit ALS? A numpy model of the solver.

Implicit ALS (Hu, Koren, Volinsky) on a scaled-down ML-20M-shaped matrix
(power-law users and items as bench/als.mjs; not the same draws), every row of
a half solved at once, vectorized: exact solves, or CG warm-started from the
previous factors with a few steps and one of these preconditioners:
  cg      none (the implicit library's method)
  jacobi  the diagonal of each row's own system
  shared  M = w0 YᵀY + lambda I (the median row's lambda): the part every row
          of the half shares; what native/core/als uses (Config::precondition)
  eig     M plus each row's own correction on the diagonal, in the eigenbasis
          of YᵀY (more work per row; measured only slightly better than shared)
Prints the objective / nnz after each iteration.

  python3 bench/tools/als_precondition_check.py [scale=0.1] [scaling=none|count] [lambda=0.01] \
      [solvers=exact:0,cg:3,cg:2,jacobi:2,shared:2,shared:1,eig:2]
  ITERS=12 (environment) runs 12 iterations instead of 4.
"""
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

args = sys.argv[1:] + [None] * 4
scale = float(args[0] or 0.1)
scaling = args[1] or 'none'
lam = float(args[2] or 0.01)
solvers = [(s.split(':')[0], int(s.split(':')[1])) for s in (args[3] or 'exact:0,cg:3,cg:2,jacobi:2,shared:2,shared:1,eig:2').split(',')]
iterations = int(os.environ.get('ITERS', '4'))
k, alpha = 64, 1.0

rng = np.random.default_rng(20)
n_users, n_items, draws = int(138493 * scale), int(26744 * scale), int(20e6 * scale)


def power_law(n, shift):
    p = 1.0 / (np.arange(n) + shift)
    return p / p.sum()


rows = rng.permutation(n_users)[rng.choice(n_users, draws, p=power_law(n_users, 2000))]
cols = rng.permutation(n_items)[rng.choice(n_items, draws, p=power_law(n_items, 50))]
R = sp.csr_matrix((np.ones(draws), (rows, cols)), shape=(n_users, n_items))
R.sum_duplicates()
R.data[:] = 1.0  # weights w = 1: confidence 1 + alpha
RT = R.T.tocsr()
print(f'{n_users} users x {n_items} items, nnz {R.nnz}, lambda {lam} ({scaling})', file=sys.stderr)


def row_lambdas(m):
    counts = np.diff(m.indptr).astype(float)
    return lam * (np.ones(m.shape[0]) if scaling == 'none' else np.maximum(counts, 1))


def init(n):
    s = 0.1 / np.sqrt(k)
    return s * (2 * rng.random((n, k)) - 1)


X0, Y0 = init(n_users), init(n_items)
lam_u, lam_i = row_lambdas(R), row_lambdas(RT)


def objective(X, Y):
    r, c = R.nonzero()
    s = np.sum(X[r] * Y[c], 1)
    conf = 1 + alpha * R.data
    every_cell = np.sum((X @ (Y.T @ Y)) * X)  # as if all unobserved, corrected below
    reg = np.sum(lam_u[:, None] * X * X) + np.sum(lam_i[:, None] * Y * Y)
    return (every_cell + np.sum(conf * (1 - s) ** 2 - s ** 2) + reg) / R.nnz


def solve_half(m, X, Y, solver, steps):
    """New rows of X given fixed Y, for the rows x cols matrix m."""
    G = Y.T @ Y
    n = X.shape[0]
    r_idx = np.repeat(np.arange(n), np.diff(m.indptr))
    c_idx = m.indices
    a = alpha * m.data  # c - 1
    lr = row_lambdas(m)
    A_obs = sp.csr_matrix((a, (r_idx, c_idx)), shape=m.shape)

    def A_times(P):
        t = np.sum(P[r_idx] * Y[c_idx], 1) * a
        return P @ G + lr[:, None] * P + sp.csr_matrix((t, (r_idx, c_idx)), shape=m.shape) @ Y

    b = sp.csr_matrix((1 + a, (r_idx, c_idx)), shape=m.shape) @ Y
    if solver == 'exact':
        out = np.empty_like(X)
        for u in range(n):
            lo, hi = m.indptr[u], m.indptr[u + 1]
            Yu = Y[c_idx[lo:hi]]
            out[u] = np.linalg.solve(G + lr[u] * np.eye(k) + (Yu.T * a[lo:hi]) @ Yu, b[u])
        return out
    evals, V = np.linalg.eigh(G)
    if solver == 'cg':
        precondition = lambda r: r
    elif solver == 'jacobi':
        d = np.diag(G)[None, :] + lr[:, None] + A_obs @ (Y * Y)
        precondition = lambda r: r / d
    elif solver == 'shared':
        d = evals + np.median(lr)
        precondition = lambda r: ((r @ V) / d) @ V.T
    elif solver == 'eig':
        YV = Y @ V
        d = evals[None, :] + lr[:, None] + A_obs @ (YV * YV)
        precondition = lambda r: ((r @ V) / d) @ V.T
    else:
        sys.exit(f'unknown solver {solver}')
    x = X.copy()
    r = b - A_times(x)
    z = precondition(r)
    p = z.copy()
    rz = np.sum(r * z, 1)
    for step in range(steps):
        Ap = A_times(p)
        pap = np.sum(p * Ap, 1)
        step_len = rz / np.where(pap > 0, pap, 1)
        x += step_len[:, None] * p
        if step == steps - 1:
            break
        r -= step_len[:, None] * Ap
        z = precondition(r)
        rz_new = np.sum(r * z, 1)
        p = z + (rz_new / np.where(rz > 0, rz, 1))[:, None] * p
        rz = rz_new
    return x


for solver, steps in solvers:
    X, Y = X0.copy(), Y0.copy()
    t0 = time.time()
    losses = []
    for _ in range(iterations):
        X = solve_half(R, X, Y, solver, steps)
        Y = solve_half(RT, Y, X, solver, steps)
        losses.append(objective(X, Y))
    print(f'{solver}:{steps}', ' '.join(f'{v:.9f}' for v in losses), f'({time.time() - t0:.0f} s)', flush=True)
