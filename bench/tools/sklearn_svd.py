"""scikit-learn's randomized_svd on a CSR matrix written by bench/svd.mjs.

Usage: python3 sklearn_svd.py DIR K OVERSAMPLE N_ITER REPS
Prints one JSON object: seconds per run, singular values, library versions and
the BLAS in use (threadpoolctl).
"""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.utils.extmath import randomized_svd

d, k, p, q, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
meta = json.load(open(f"{d}/meta.json"))
indptr = np.fromfile(f"{d}/indptr.bin", dtype=np.int64)
indices = np.fromfile(f"{d}/indices.bin", dtype=np.int32)
data = np.fromfile(f"{d}/data.bin", dtype=np.float32)
m = sp.csr_matrix((data, indices, indptr), shape=(meta["rows"], meta["cols"]))
times = []
cpu = []
s = None
for r in range(reps):
    t0 = time.perf_counter()
    c0 = time.process_time()  # all threads of the process (OpenBLAS included)
    u, s, vt = randomized_svd(m, n_components=k, n_oversamples=p, n_iter=q, random_state=r)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
blas = []
try:
    from threadpoolctl import threadpool_info
    blas = [{k2: i.get(k2) for k2 in ("internal_api", "version", "num_threads", "architecture")} for i in threadpool_info()]
except Exception as e:  # threadpoolctl missing: report why
    blas = [str(e)]
print(json.dumps({"seconds": times, "cpu": cpu, "s": [float(x) for x in s], "dtype": str(u.dtype), "sklearn": sklearn.__version__,
                  "numpy": np.__version__, "blas": blas}))
