// One process-wide thread pool with a parallel-for.
//
// The calling thread always takes part, so a job with threads = 1 runs inline
// and costs nothing. A parallel_for called from inside a pool task runs inline
// too: there are no nested pools and the machine is never oversubscribed.
// Several callers (e.g. two async N-API workers) may submit jobs at once; the
// workers share themselves among the open jobs.
#pragma once
#include <cstddef>
#include <functional>

namespace fastrec {

// Body of a parallel loop: process [begin, end); `slot` is in [0, threads) and
// is unique among the chunks running at the same moment (use it to index
// per-thread scratch buffers).
using RangeFn = std::function<void(size_t begin, size_t end, size_t slot)>;

// Number of hardware threads (at least 1).
size_t hardware_threads();

// Resolve a user's `threads` option: 0 means all hardware threads.
size_t resolve_threads(size_t requested);

// Run body over [0, n) in chunks of `grain` items (dynamically scheduled, so
// rows of very different cost balance out), on at most `threads` threads.
// The first exception thrown by any chunk stops the remaining chunks and is
// rethrown in the caller.
void parallel_for(size_t n, size_t grain, size_t threads, const RangeFn& body);

}  // namespace fastrec
