#include <ukikit/bytes.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit {
namespace {

std::vector<std::byte> bytes_of_list(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

// A made-up on-disk header with mixed byte orders.
struct sample_header {
  le32 magic;
  be16 version;
  le64 size;
};
static_assert(sizeof(sample_header) == 14);

TEST(checked_arithmetic, detects_wrap_around) {
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(checked_add<std::uint64_t>(1, 2), 3u);
  EXPECT_FALSE(checked_add<std::uint64_t>(max, 1));
  EXPECT_EQ(checked_mul<std::uint64_t>(1u << 20, 1u << 20), std::uint64_t{1} << 40);
  EXPECT_FALSE(checked_mul<std::uint64_t>(max / 2 + 1, 2));
  EXPECT_FALSE(checked_add<std::uint32_t>(0xffffffffu, 1u));
}

TEST(checked_arithmetic, aligns_up) {
  EXPECT_EQ(checked_align_up<std::uint64_t>(0, 8), 0u);
  EXPECT_EQ(checked_align_up<std::uint64_t>(1, 8), 8u);
  EXPECT_EQ(checked_align_up<std::uint64_t>(0x1000, 0x200), 0x1000u);
  EXPECT_EQ(checked_align_up<std::uint64_t>(0x1001, 0x200), 0x1200u);
  EXPECT_EQ(checked_align_up<std::uint32_t>(5, 3), 6u);
  EXPECT_FALSE(checked_align_up<std::uint64_t>(5, 0));
  EXPECT_FALSE(checked_align_up<std::uint64_t>(std::numeric_limits<std::uint64_t>::max(), 8));
}

TEST(endian_fields, load_and_store_in_their_byte_order) {
  auto data = bytes_of_list({0x4d, 0x5a, 0x90, 0x00, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8});
  auto h = load<sample_header>(data);
  EXPECT_EQ(h.magic.value(), 0x00905a4du);
  EXPECT_EQ(h.version.value(), 0x1234u);
  EXPECT_EQ(h.size.value(), 0x0807060504030201u);

  sample_header w{};
  w.magic = 0x00905a4du;
  w.version = 0x1234;
  w.size = 0x0807060504030201u;
  auto out = bytes_of(w);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin()));
}

TEST(endian_fields, signed_values_round_trip) {
  le<std::int32_t> v;
  v = -2;
  EXPECT_EQ(v.value(), -2);
  EXPECT_EQ(std::to_integer<int>(v.raw[0]), 0xfe);
  EXPECT_EQ(std::to_integer<int>(v.raw[3]), 0xff);
}

TEST(cursor, reads_integers_in_both_byte_orders) {
  auto data = bytes_of_list({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xaa});
  cursor c(data);
  EXPECT_EQ(*c.u16le(), 0x0201u);
  EXPECT_EQ(*c.u16be(), 0x0304u);
  EXPECT_EQ(*c.u32le(), 0x08070605u);
  EXPECT_EQ(*c.u8(), 0xaau);
  EXPECT_TRUE(c.at_end());
  cursor d(data);
  EXPECT_EQ(*d.u64be(), 0x0102030405060708u);
  cursor e(data);
  EXPECT_EQ(*e.u64le(), 0x0807060504030201u);
}

TEST(cursor, truncated_read_reports_absolute_offset_and_sizes) {
  auto data = bytes_of_list({1, 2, 3});
  cursor c(data, 0x4a000);
  ASSERT_TRUE(c.skip(1).ok());
  auto r = c.read<sample_header>("sample header");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::truncated);
  EXPECT_EQ(r.error().offset(), 0x4a001u);
  EXPECT_EQ(r.error().message(),
            "sample header is truncated (need 0xe bytes, have 0x2) at offset 0x4a001");
  EXPECT_EQ(c.position(), 1u) << "a failed read must not move the cursor";
}

TEST(cursor, array_checks_count_before_multiplying) {
  std::vector<std::byte> data(28);
  cursor c(data);
  auto huge =
      c.array<sample_header>(std::numeric_limits<std::uint64_t>::max() / 2, "section table");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code(), errc::overflow);
  auto three = c.array<sample_header>(3, "section table");
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.error().code(), errc::truncated);
  auto two = c.array<sample_header>(2, "section table");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  int n = 0;
  for (sample_header h : *two) n += static_cast<int>(h.magic.value()) + 1;
  EXPECT_EQ(n, 2);
}

TEST(cursor, cstring_respects_maximum_and_requires_nul) {
  auto data = as_bytes(std::string_view("abc\0defgh", 9));
  cursor c(data);
  EXPECT_EQ(*c.cstring(8), "abc");
  EXPECT_EQ(c.position(), 4u);
  auto no_nul = c.cstring(16);
  ASSERT_FALSE(no_nul.ok());
  EXPECT_EQ(no_nul.error().code(), errc::truncated);
  cursor d(data);
  auto too_long = d.cstring(2, "name");
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code(), errc::limit_exceeded);
  EXPECT_EQ(too_long.error().context(), "name is longer than 2 bytes");
  cursor e(data);
  EXPECT_EQ(*e.cstring(3), "abc") << "exactly max bytes before the NUL is allowed";
}

TEST(cursor, fixed_string_trims_trailing_nuls) {
  auto data = as_bytes(std::string_view(".linux\0\0.osrel\0\0", 16));
  cursor c(data);
  EXPECT_EQ(*c.fixed_string(8), ".linux");
  EXPECT_EQ(*c.fixed_string(8), ".osrel");
  EXPECT_FALSE(c.fixed_string(1).ok());
}

TEST(cursor, sub_cursor_keeps_absolute_offsets) {
  std::vector<std::byte> data(16);
  cursor c(data, 0x100);
  ASSERT_TRUE(c.skip(4).ok());
  auto s = c.sub(8);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->offset(), 0x104u);
  EXPECT_EQ(c.offset(), 0x10cu);
  auto r = s->bytes(9);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().offset(), 0x104u);
}

TEST(cursor, seek_align_and_peek) {
  std::vector<std::byte> data(10);
  cursor c(data);
  ASSERT_TRUE(c.skip(3).ok());
  ASSERT_TRUE(c.align(4).ok());
  EXPECT_EQ(c.position(), 4u);
  EXPECT_TRUE(c.peek(6).ok());
  EXPECT_EQ(c.position(), 4u);
  EXPECT_FALSE(c.peek(7).ok());
  EXPECT_FALSE(c.seek(11).ok());
  EXPECT_TRUE(c.seek(10).ok());
  EXPECT_TRUE(c.at_end());
  EXPECT_FALSE(c.align(0).ok());
  ASSERT_TRUE(c.seek(9).ok());
  EXPECT_FALSE(c.align(4).ok()) << "aligning past the end is truncation";
}

TEST(subview, reports_past_end_and_overflow) {
  std::vector<std::byte> data(0x100);
  EXPECT_TRUE(subview(data, 0x80, 0x80, "section").ok());
  auto past = subview(data, 0x80, 0x81, "section .initrd", 0x1000);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().message(),
            "section .initrd extends past end of data (0x80 + 0x81 > 0x100) at offset 0x1080");
  auto wrap = subview(data, 0xffffffffffffff00u, 0x200, "section");
  ASSERT_FALSE(wrap.ok());
  EXPECT_EQ(wrap.error().code(), errc::overflow);
}

TEST(hex, encodes_lowercase_and_parses_digits) {
  auto data = bytes_of_list({0x00, 0xab, 0xff, 0x10});
  EXPECT_EQ(to_hex(data), "00abff10");
  EXPECT_EQ(hex_digit('a'), 10);
  EXPECT_EQ(hex_digit('A'), -1);
  EXPECT_EQ(hex_digit('A', true), 10);
  EXPECT_EQ(hex_digit('g'), -1);
}

TEST(leading_zeros, stops_at_the_first_non_zero_byte_wherever_it_is) {
  std::vector<std::byte> buf(200);
  for (std::size_t start = 0; start < 8; ++start) { // any alignment of the span
    for (std::size_t len = 0; len <= 100; ++len) {
      const byte_span b = byte_span(buf).subspan(start, len);
      EXPECT_EQ(leading_zeros(b), len) << start << " " << len;
      for (std::size_t at = 0; at < len; ++at) {
        buf[start + at] = std::byte{0x80};
        EXPECT_EQ(leading_zeros(b), at) << start << " " << len << " " << at;
        buf[start + at] = std::byte{0};
      }
    }
  }
}

TEST(escape_controls, escapes_c0_del_and_c1_controls) {
  using namespace std::string_view_literals;
  EXPECT_EQ(escape_controls("\x1b[31mred"sv), "\\x1b[31mred");
  EXPECT_EQ(escape_controls("a\tb\nc\rd\0e"sv), "a\\x09b\\x0ac\\x0dd\\x00e");
  EXPECT_EQ(escape_controls("del\x7f"sv), "del\\x7f");
  // U+009B (CSI) and U+0085 (NEL) in UTF-8: C1 controls some terminals obey.
  EXPECT_EQ(escape_controls("\xc2\x9b"
                            "31m\xc2\x85"sv),
            "\\xc2\\x9b31m\\xc2\\x85");
}

TEST(escape_controls, keeps_printable_utf8_and_backslashes) {
  using namespace std::string_view_literals;
  EXPECT_EQ(
      escape_controls("Debian GNU/Linux 13 (trixie) caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x90\xa7"sv),
      "Debian GNU/Linux 13 (trixie) caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x90\xa7");
  EXPECT_EQ(escape_controls("\xc2\xa0nbsp"sv), "\xc2\xa0nbsp") << "U+00A0 is past the C1 range";
  EXPECT_EQ(escape_controls("a\\x1b"sv), "a\\x1b") << "escaping twice changes nothing";
  EXPECT_EQ(escape_controls(escape_controls("\x1b"sv)), escape_controls("\x1b"sv));
}

TEST(escape_controls, escapes_bytes_that_are_not_utf8) {
  using namespace std::string_view_literals;
  EXPECT_EQ(escape_controls("\xff\xfe"sv), "\\xff\\xfe");
  EXPECT_EQ(escape_controls("\xc3"sv), "\\xc3") << "a sequence cut at the end";
  EXPECT_EQ(escape_controls("\xc3("sv), "\\xc3(") << "a bad continuation byte";
  EXPECT_EQ(escape_controls("\xc0\xaf"sv), "\\xc0\\xaf") << "overlong '/'";
  EXPECT_EQ(escape_controls("\xe0\x80\xaf"sv), "\\xe0\\x80\\xaf") << "overlong '/'";
  EXPECT_EQ(escape_controls("\xed\xa0\x80"sv), "\\xed\\xa0\\x80") << "a UTF-16 surrogate";
  EXPECT_EQ(escape_controls("\xf4\x90\x80\x80"sv), "\\xf4\\x90\\x80\\x80") << "above U+10FFFF";
  EXPECT_EQ(escape_controls("\x80"sv), "\\x80") << "a lone continuation byte";
}

TEST(excerpt, shows_the_start_and_the_length_of_a_long_text) {
  EXPECT_EQ(excerpt("short"), "short");
  EXPECT_EQ(excerpt(std::string(64, 'a')), std::string(64, 'a'));
  EXPECT_EQ(excerpt(std::string(5000, 'a')), std::string(64, 'a') + "\xe2\x80\xa6(5000 bytes)");
  EXPECT_EQ(excerpt(std::string(3, '\x1b') + std::string(100, 'b'), 4),
            "\\x1b\\x1b\\x1bb\xe2\x80\xa6(103 bytes)");
}

// A writer that takes the core sink, as compress and the cpio writer do.
result<void> write_twice(byte_span chunk, sink_ref sink) {
  UKIKIT_TRY(sink(chunk));
  return sink(chunk);
}

TEST(sink_ref, hands_each_chunk_to_the_callable_and_passes_its_error_on) {
  std::string seen;
  auto collect = [&](byte_span chunk) -> result<void> {
    seen += as_chars(chunk);
    return {};
  };
  ASSERT_TRUE(write_twice(as_bytes("ab"), collect).ok());
  EXPECT_EQ(seen, "abab");
  int calls = 0;
  auto refuse = [&](byte_span) -> result<void> {
    ++calls;
    return error(errc::io, "disk full");
  };
  auto r = write_twice(as_bytes("ab"), refuse);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "disk full");
  EXPECT_EQ(calls, 1) << "the first error stops the writer";
}

} // namespace
} // namespace ukikit
