// Digests of byte spans (a UKI's sections) in several banks, computed up
// front on several threads instead of bank after bank: each span in each
// algorithm is a piece of work, handed out largest first (sha384 and sha512
// count double), next to any other work given (an Authenticode digest, the
// PE CheckSum). lookup() hands them to options::known_digest, so PCR 11 and
// a section table hash nothing again; a span asked for that was not
// computed (too small, another algorithm) is hashed where it is asked for.
// The digests are the same for any number of threads.
#pragma once

#include "../bytes.hpp"
#include "../hash.hpp"
#include "../parallel.hpp"
#include "pcr11.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace ukikit::measure {

class precomputed {
public:
  // Spans under `min_size` bytes are left to be hashed when asked for.
  static precomputed compute(std::span<const byte_span> spans,
                             std::span<const hash::algorithm> algs, unsigned jobs = 0,
                             std::vector<std::function<void()>> other = {},
                             std::size_t min_size = std::size_t{64} << 10) {
    precomputed out;
    for (byte_span s : spans) {
      if (s.size() < min_size) continue;
      bool seen = false;
      for (const auto& e : out.entries_) seen = seen || (e.data == s.data() && e.size == s.size());
      if (seen) continue;
      for (auto a : algs) out.entries_.push_back({s.data(), s.size(), a, std::nullopt});
    }
    // The largest first, so that the last piece handed out is a small one.
    const auto cost = [](const entry& e) {
      const bool wide = e.alg == hash::algorithm::sha384 || e.alg == hash::algorithm::sha512;
      return e.size * (wide ? 2 : 1);
    };
    std::stable_sort(out.entries_.begin(), out.entries_.end(),
                     [&](const entry& x, const entry& y) { return cost(x) > cost(y); });
    const std::size_t n = other.size();
    for_each_index(n + out.entries_.size(), jobs, [&](std::size_t i) {
      if (i < n) {
        other[i]();
        return;
      }
      entry& e = out.entries_[i - n];
      if (auto d = hash::compute(e.alg, byte_span(e.data, e.size))) e.digest = *d;
    });
    return out;
  }

  // H(data) in `a` when it was computed; nullopt otherwise.
  std::optional<hash::digest> find(byte_span data, hash::algorithm a) const {
    for (const auto& e : entries_)
      if (e.data == data.data() && e.size == data.size() && e.alg == a) return e.digest;
    return std::nullopt;
  }

  // For options::known_digest; valid while this object lives.
  digest_lookup lookup() const {
    return [this](byte_span data, hash::algorithm a) { return find(data, a); };
  }

private:
  struct entry {
    const std::byte* data;
    std::size_t size;
    hash::algorithm alg;
    std::optional<hash::digest> digest;
  };
  std::vector<entry> entries_;
};

} // namespace ukikit::measure
