// A consumer of the installed (or add_subdirectory'd) ukikit headers: parses a
// tiny little-endian record with the cursor and reports through result<T>.
// Built by tests/consumer/run.cmake; exits 0 only when everything checks out.
#include <ukikit/bytes.hpp>
#include <ukikit/result.hpp>
#include <ukikit/version.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace {

struct header {
  ukikit::le32 magic;
  ukikit::be16 count;
};
static_assert(sizeof(header) == 6);

ukikit::result<std::uint16_t> parse(ukikit::byte_span data) {
  ukikit::cursor c(data);
  UKIKIT_TRY_ASSIGN(header h, c.read<header>("header"));
  if (h.magic != 0x4b494b55u) return ukikit::error(ukikit::errc::malformed, "bad magic", 0);
  return h.count.value();
}

int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

} // namespace

int main() {
  constexpr std::array<std::byte, 6> good{std::byte{'U'}, std::byte{'K'},  std::byte{'I'},
                                          std::byte{'K'}, std::byte{0x01}, std::byte{0x02}};
  auto r = parse(good);
  check(r.ok() && *r == 0x0102, "parses a good record");

  auto bad = parse(ukikit::byte_span(good).first(4));
  check(!bad.ok() && bad.error().code() == ukikit::errc::truncated && bad.error().offset() == 0,
        "reports a truncated record at offset 0");

  check(!ukikit::checked_add<std::uint32_t>(0xffffffffu, 1).has_value(), "checked_add overflows");

#ifdef UKIKIT_EXPECTED_VERSION
  check(std::string_view(ukikit::version) == UKIKIT_EXPECTED_VERSION,
        "header version equals the CMake package version");
#endif

  std::printf("consumer: ukikit %s, %s\n", ukikit::version, failures == 0 ? "OK" : "FAILED");
  return failures == 0 ? 0 : 1;
}
