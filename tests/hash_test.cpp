#include <ukikit/hash.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ukikit::hash {
namespace {

namespace t = ukikit::test;

// The hex digest the coreutils tool prints for a file.
std::string coreutils_digest(algorithm a, const t::fs::path& file) {
  auto r = t::run(std::string(name(a)) + "sum " + t::sh_quote(file.string()));
  EXPECT_EQ(r.status, 0);
  return r.out.substr(0, r.out.find(' '));
}

class hash_vs_coreutils : public ::testing::TestWithParam<std::size_t> {};

TEST_P(hash_vs_coreutils, matches_coreutils_for_every_algorithm) {
  t::temp_dir dir;
  auto data = t::sample_bytes(GetParam(), static_cast<unsigned>(GetParam()));
  t::write_file(dir / "input", data);
  for (algorithm a : all_algorithms) {
    auto d = compute(a, data);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->alg(), a);
    EXPECT_EQ(d->size(), digest_size(a));
    EXPECT_EQ(d->hex(), coreutils_digest(a, dir / "input"))
        << name(a) << " of " << GetParam() << " bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(sizes, hash_vs_coreutils,
                         ::testing::Values(0, 1, 55, 56, 64, 111, 112, 128, 4097, (1 << 20) + 3));

TEST(hasher, streaming_over_many_spans_equals_one_shot) {
  auto data = t::sample_bytes(300000, 7);
  byte_span all(data);
  std::vector<byte_span> pieces;
  std::size_t pos = 0, step = 1;
  while (pos < all.size()) {
    std::size_t n = std::min(step, all.size() - pos);
    pieces.push_back(all.subspan(pos, n));
    pos += n;
    step = step * 3 + 1;
  }
  for (algorithm a : all_algorithms) {
    auto whole = compute(a, all);
    auto streamed = compute_all(a, pieces);
    ASSERT_TRUE(whole.ok() && streamed.ok());
    EXPECT_EQ(*whole, *streamed) << name(a);
  }
}

TEST(hasher, is_reusable_after_finish) {
  auto h = hasher::create(algorithm::sha256);
  ASSERT_TRUE(h.ok());
  auto a = h->update(as_bytes("abc")).finish();
  auto b = h->update(as_bytes("abc")).finish();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(digest, oci_form_round_trips) {
  t::temp_dir dir;
  t::write_file(dir / "x", std::string_view("{}"));
  std::string hex = coreutils_digest(algorithm::sha256, dir / "x");
  auto d = digest::parse("sha256:" + hex);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->str(), "sha256:" + hex);
  auto computed = compute(algorithm::sha256, as_bytes("{}"));
  ASSERT_TRUE(computed.ok());
  EXPECT_EQ(*d, *computed);
  auto d512 = digest::parse("sha512:" + coreutils_digest(algorithm::sha512, dir / "x"));
  ASSERT_TRUE(d512.ok()) << d512.error().message();
  EXPECT_EQ(d512->alg(), algorithm::sha512);
}

TEST(digest, rejects_strings_outside_the_oci_grammar) {
  const std::string hex64(64, 'a');
  for (const std::string& bad :
       std::vector<std::string>{"sha256", "sha256:", ":" + hex64, "SHA256:" + hex64,
                                "sha256::" + hex64, "sha256:" + hex64 + "!", "sha-:" + hex64,
                                "-sha256:" + hex64, "sha256+:" + hex64, "sha__256:" + hex64}) {
    auto r = digest::parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), errc::malformed) << bad << ": " << r.error().message();
  }
}

TEST(digest, rejects_registered_algorithms_with_bad_encodings) {
  const std::string upper(64, 'A');
  auto r = digest::parse("sha256:" + upper);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::malformed);
  EXPECT_NE(r.error().message().find("lowercase hex"), std::string::npos) << r.error().message();
  auto short_hex = digest::parse("sha256:" + std::string(63, 'a'));
  ASSERT_FALSE(short_hex.ok());
  EXPECT_NE(short_hex.error().message().find("64 hex digits, not 63"), std::string::npos);
  EXPECT_FALSE(digest::parse("sha512:" + std::string(64, 'a')).ok());
}

TEST(digest, grammatical_but_unknown_algorithm_is_unsupported_not_malformed) {
  for (const std::string& s :
       std::vector<std::string>{"blake3:" + std::string(64, 'a'),
                                "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
                                "sha384:" + std::string(96, 'a'), "sha1:" + std::string(40, 'a')}) {
    auto r = digest::parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.error().code(), errc::unsupported) << s;
  }
}

TEST(digest, from_bytes_checks_length) {
  std::vector<std::byte> twenty(20);
  EXPECT_TRUE(digest::from_bytes(algorithm::sha1, twenty).ok());
  auto r = digest::from_bytes(algorithm::sha256, twenty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context(), "sha256 digest must be 32 bytes, not 20");
}

TEST(digest, equality_includes_algorithm) {
  auto a = digest::from_hex(algorithm::sha256, std::string(64, '0'));
  auto b = digest::from_hex(algorithm::sha256, std::string(64, '0'));
  auto c = digest::from_hex(algorithm::sha256, std::string(63, '0') + "1");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(*a == *c);
}

TEST(algorithm, names_parse_back) {
  for (algorithm a : all_algorithms) EXPECT_EQ(parse_algorithm(name(a)), a);
  EXPECT_FALSE(parse_algorithm("md5"));
  EXPECT_FALSE(parse_algorithm("SHA256"));
}

} // namespace
} // namespace ukikit::hash
