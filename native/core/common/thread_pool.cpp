#include "common/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fastrec {
namespace {

thread_local bool t_inside_pool_task = false;

struct Job {
  const RangeFn* body;
  size_t n, grain, max_threads;
  std::atomic<size_t> next{0};
  size_t joined = 1;   // threads that took a slot (the caller holds slot 0); guarded by pool mutex
  size_t running = 0;  // pool workers still inside this job; guarded by pool mutex
  std::exception_ptr error;  // guarded by pool mutex
  std::atomic<bool> failed{false};

  // Process chunks until none are left. Returns the exception, if any.
  std::exception_ptr work(size_t slot) {
    bool was_inside = t_inside_pool_task;
    t_inside_pool_task = true;
    std::exception_ptr err;
    try {
      while (!failed.load(std::memory_order_relaxed)) {
        size_t begin = next.fetch_add(grain, std::memory_order_relaxed);
        if (begin >= n) break;
        (*body)(begin, std::min(n, begin + grain), slot);
      }
    } catch (...) {
      err = std::current_exception();
      failed.store(true);
    }
    t_inside_pool_task = was_inside;
    return err;
  }
  bool has_room() const { return joined < max_threads && next.load() < n && !failed.load(); }
};

class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive static teardown
    return *pool;
  }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ensure_workers(job.max_threads - 1);
      jobs_.push_back(&job);
    }
    cv_.notify_all();
    std::exception_ptr err = job.work(0);
    std::unique_lock<std::mutex> lock(mu_);
    jobs_.remove(&job);
    if (err && !job.error) job.error = err;
    done_cv_.wait(lock, [&] { return job.running == 0; });
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  void ensure_workers(size_t wanted) {
    while (workers_.size() < wanted) {
      workers_.emplace_back([this] { worker_loop(); });
      workers_.back().detach();
    }
  }

  void worker_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      Job* job = nullptr;
      cv_.wait(lock, [&] {
        for (Job* j : jobs_)
          if (j->has_room()) return (job = j), true;
        return false;
      });
      size_t slot = job->joined++;
      job->running++;
      lock.unlock();
      std::exception_ptr err = job->work(slot);
      lock.lock();
      if (err && !job->error) job->error = err;
      if (--job->running == 0) done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::list<Job*> jobs_;
  std::vector<std::thread> workers_;
};

}  // namespace

size_t hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

size_t resolve_threads(size_t requested) { return requested == 0 ? hardware_threads() : requested; }

void parallel_for(size_t n, size_t grain, size_t threads, const RangeFn& body) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  threads = std::min(resolve_threads(threads), (n + grain - 1) / grain);
  if (threads <= 1 || t_inside_pool_task) {
    bool was_inside = t_inside_pool_task;
    t_inside_pool_task = true;
    try {
      for (size_t b = 0; b < n; b += grain) body(b, std::min(n, b + grain), 0);
    } catch (...) {
      t_inside_pool_task = was_inside;
      throw;
    }
    t_inside_pool_task = was_inside;
    return;
  }
  Job job;
  job.body = &body;
  job.n = n;
  job.grain = grain;
  job.max_threads = threads;
  Pool::instance().run(job);
}

}  // namespace fastrec
