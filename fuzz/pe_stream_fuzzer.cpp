// pe_stream_fuzzer: uki::streamed_image (uki/stream.hpp) fed the input as a
// file in pieces, against the input held whole. The first 4 bytes choose
// the piece size (1..4096), the size from which payload sections are left
// out (0..4095) and the header window (1..4096); the rest is the file. A
// violated property traps:
// - the stream finishes, and its sha256 is the file's;
// - bytes() is the file, except for bytes left out, which read as zero;
//   with nothing left out (whole()) it is the file exactly;
// - with something left out the file parses as a PE image, and the
//   precomputed Authenticode digest (sha256, sha384) is image_digest() of
//   the file held whole;
// - a section's digest, when the stream has one, is the digest of the
//   file's section data; a section the stream has none for was kept
//   verbatim, unless the lookup was a miss;
// - a digest not computed (sha512 here) is a miss, never a value;
// - streamed again for the algorithms missed (missed_*_digests(), without
//   the file's sha256) and adopted (adopt_digests), the sha512 digests are
//   the file's and nothing is missed any more; the earlier ones stay.
#include <ukikit/authenticode.hpp>
#include <ukikit/hash.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/uki/stream.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace {

using namespace ukikit;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) __builtin_trap();                                                                 \
  } while (0)

bool same_bytes(byte_span a, byte_span b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::size_t chunk = 1 + ((std::size_t{data[0]} << 4 | (data[1] >> 4)) % 4096);
  uki::stream_options so;
  so.drop_at = (std::uint64_t{data[1]} & 0x0f) << 8 | data[2];
  so.header_window = 1 + (std::uint64_t{data[3]} << 4) % 4096;
  so.max_kept = std::uint64_t{1} << 30;
  so.image_digests = {hash::algorithm::sha256, hash::algorithm::sha384};
  so.section_digests = {hash::algorithm::sha1, hash::algorithm::sha256};
  const byte_span file(reinterpret_cast<const std::byte*>(data + 4), size - 4);

  auto s = uki::streamed_image::create(file.size(), so);
  CHECK(s.ok());
  for (std::size_t at = 0; at < file.size(); at += chunk)
    s->write(file.subspan(at, std::min(chunk, file.size() - at)));
  CHECK(s->finish().ok());
  CHECK(s->file_digest() && *s->file_digest() == *hash::compute(hash::algorithm::sha256, file));

  const byte_span got = s->bytes();
  CHECK(got.size() == file.size());
  if (s->whole()) {
    CHECK(same_bytes(got, file));
    CHECK(!s->image_digest(hash::algorithm::sha256));
    CHECK(!s->missed());
    return 0;
  }
  for (std::size_t i = 0; i < file.size(); ++i) CHECK(got[i] == file[i] || got[i] == std::byte{0});

  auto img = pe::parse(file);
  CHECK(img.ok());
  for (auto alg : {hash::algorithm::sha256, hash::algorithm::sha384}) {
    auto want = authenticode::image_digest(*img, alg);
    CHECK(want.ok());
    auto have = s->image_digest(alg);
    CHECK(have && *have == *want);
  }
  CHECK(!s->missed());
  // The same bytes of the stream's copy as a section's data in the file.
  const auto in_stream_of = [&](const pe::section& sec) {
    return got.subspan(static_cast<std::size_t>(sec.data().data() - file.data()),
                       sec.data().size());
  };
  for (const auto& sec : img->sections) {
    if (sec.data().empty()) continue;
    const byte_span in_stream = in_stream_of(sec);
    for (auto alg : {hash::algorithm::sha1, hash::algorithm::sha256}) {
      auto have = s->section_digest(in_stream, alg);
      if (have) CHECK(*have == *hash::compute(alg, sec.data()));
      else if (!s->missed()) CHECK(same_bytes(in_stream, sec.data()));
    }
  }
  // sha512 was not computed: never a value for bytes left out.
  for (const auto& sec : img->sections) {
    if (sec.data().empty()) continue;
    const byte_span in_stream = in_stream_of(sec);
    if (same_bytes(in_stream, sec.data())) continue;
    CHECK(!s->section_digest(in_stream, hash::algorithm::sha512));
    CHECK(s->missed());
  }
  CHECK(!s->image_digest(hash::algorithm::sha512));
  CHECK(s->missed());

  // Again, for what was missed only, in pieces of another size.
  uki::stream_options again = so;
  again.image_digests = s->missed_image_digests();
  again.section_digests = s->missed_section_digests();
  again.file_digest = false;
  CHECK(std::find(again.image_digests.begin(), again.image_digests.end(),
                  hash::algorithm::sha512) != again.image_digests.end());
  auto t = uki::streamed_image::create(file.size(), again);
  CHECK(t.ok());
  const std::size_t chunk2 = 1 + (chunk * 7) % 4096;
  for (std::size_t at = 0; at < file.size(); at += chunk2)
    t->write(file.subspan(at, std::min(chunk2, file.size() - at)));
  CHECK(t->finish().ok());
  CHECK(!t->file_digest());
  CHECK(s->adopt_digests(*t).ok());
  CHECK(!s->missed());
  for (auto alg : {hash::algorithm::sha256, hash::algorithm::sha384, hash::algorithm::sha512}) {
    auto have = s->image_digest(alg);
    CHECK(have && *have == *authenticode::image_digest(*img, alg));
  }
  for (const auto& sec : img->sections) {
    if (sec.data().empty()) continue;
    const byte_span in_stream = in_stream_of(sec);
    if (same_bytes(in_stream, sec.data())) continue;
    for (auto alg : {hash::algorithm::sha1, hash::algorithm::sha256, hash::algorithm::sha512}) {
      auto have = s->section_digest(in_stream, alg);
      if (have) CHECK(*have == *hash::compute(alg, sec.data()));
      else CHECK(s->missed()); // bytes left out that are not the measured ones
    }
  }
  return 0;
}
