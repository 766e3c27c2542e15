// Independent pieces of work over several threads: for_each_index(n, jobs,
// fn) calls fn(i) once for every i in [0, n), on at most `jobs` threads
// (the calling one included; 0: one per core), each taking the next index
// as it finishes one. Results go where fn puts them (a slot per index), so
// the outcome does not depend on the number of threads. An exception thrown
// by fn stops the handing out of indexes and the first one is rethrown
// after every thread has finished.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ukikit {

// The threads `jobs` asks for: itself, or one per core when 0.
inline unsigned effective_jobs(unsigned jobs) noexcept {
  return jobs != 0 ? jobs : std::max(1u, std::thread::hardware_concurrency());
}

template <class F> void for_each_index(std::size_t n, unsigned jobs, F&& fn) {
  if (n == 0) return;
  const std::size_t threads = std::min<std::size_t>(effective_jobs(jobs), n);
  std::atomic<std::size_t> next{0};
  std::exception_ptr failed;
  std::mutex failed_lock;
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> hold(failed_lock);
        if (!failed) failed = std::current_exception();
        next = n; // hand out no more
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (std::size_t k = 1; k < threads; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failed) std::rethrow_exception(failed);
}

} // namespace ukikit
