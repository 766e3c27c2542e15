// Shared helpers for ukikit tests: temporary directories, whole-file I/O and
// running the real command-line tools whose output is our expected value.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ukikit::test {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR, removed with everything in it.
class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "ukikit-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

private:
  fs::path path_;
};

inline std::vector<std::byte> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

inline void write_file(const fs::path& p, std::span<const std::byte> data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

inline void write_file(const fs::path& p, std::string_view text) {
  write_file(
      p, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

// Quote one argument for /bin/sh.
inline std::string sh_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

struct run_result {
  int status = -1; // exit status, or -1 when the command did not exit normally
  std::string out; // stdout
};

namespace detail {
inline run_result run_any_status(const std::string& command) {
  run_result r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + command);
  char buf[65536];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}
} // namespace detail

// The shell's exit status for a command it cannot find (POSIX 2.8.2).
inline constexpr int command_not_found = 127;

// Run a /bin/sh command line; stdout is captured, stderr passes through.
// Exit status 127 (the shell found no such command) throws, so that a test
// that expects a tool to fail cannot pass because the tool is missing; the
// shell's own message on stderr names it. Tests declare the tools they run
// with UKIKIT_NEED_TOOL.
inline run_result run(const std::string& command) {
  run_result r = detail::run_any_status(command);
  if (r.status == command_not_found)
    throw std::runtime_error("exit status 127 (command not found, see stderr; declare it with "
                             "UKIKIT_NEED_TOOL and install it in scripts/setup.sh): " +
                             command);
  return r;
}

// True when a program is on PATH, or NAME is the path of an executable file
// (dash's `command -v` prints any name with a slash without looking at it).
inline bool have_tool(std::string_view name) {
  if (name.find('/') != std::string_view::npos) {
    const std::string path(name);
    std::error_code ec;
    return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
  }
  return detail::run_any_status("command -v " + sh_quote(name) + " >/dev/null 2>&1").status == 0;
}

// Deterministic, moderately compressible bytes: text-like runs with noise.
inline std::vector<std::byte> sample_bytes(std::size_t n, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  static constexpr std::string_view words[] = {
      "kernel ", "initrd ", "section ", "linux ", "systemd-stub ", "0123456789", "\n", "ukikit "};
  std::size_t i = 0;
  while (i < n) {
    if (rng() % 8 == 0) {
      out[i++] = static_cast<std::byte>(rng() & 0xff);
      continue;
    }
    std::string_view w = words[rng() % std::size(words)];
    for (char c : w) {
      if (i == n) break;
      out[i++] = static_cast<std::byte>(c);
    }
  }
  return out;
}

// Lowercase hex of bytes.
inline std::string hex_of(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// Bytes of lowercase or uppercase hex (throws on anything else).
inline std::vector<unsigned char> bytes_of_hex(std::string_view hex) {
  auto nibble = [](char c) -> unsigned {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
    throw std::runtime_error("not hex: " + std::string(1, c));
  };
  if (hex.size() % 2) throw std::runtime_error("odd hex length");
  std::vector<unsigned char> out;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    out.push_back(static_cast<unsigned char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

// PCR 11 of one bank ("sha1", "sha256", "sha384", "sha512") computed from
// reference/uki-signing-pcr.md §3.1 with OpenSSL alone, as an expected value
// independent of ukikit: starting from zeros, each given section in the
// given order extends its name with the NUL, then its bytes; then each phase
// word (no NUL). P = H(P || H(data)). Lowercase hex.
inline std::string
spec_pcr11(std::string_view bank,
           const std::vector<std::pair<std::string, std::span<const std::byte>>>& sections,
           const std::vector<std::string>& words) {
  const EVP_MD* md = EVP_get_digestbyname(std::string(bank).c_str());
  if (!md) throw std::runtime_error("unknown bank " + std::string(bank));
  const auto size = static_cast<std::size_t>(EVP_MD_get_size(md));
  std::vector<unsigned char> pcr(size, 0), both(2 * size);
  auto extend = [&](const void* data, std::size_t n) {
    unsigned int len = 0;
    if (EVP_Digest(data, n, both.data() + size, &len, md, nullptr) != 1)
      throw std::runtime_error("EVP_Digest");
    std::copy(pcr.begin(), pcr.end(), both.begin());
    if (EVP_Digest(both.data(), both.size(), pcr.data(), &len, md, nullptr) != 1)
      throw std::runtime_error("EVP_Digest");
  };
  for (const auto& [name, bytes] : sections) {
    extend(name.c_str(), name.size() + 1);
    extend(bytes.data(), bytes.size());
  }
  for (const auto& w : words) extend(w.data(), w.size());
  return hex_of(pcr);
}

// The SHA-256 bank of spec_pcr11 (systemd-stub 254's sections in the tests).
inline std::string
spec_pcr11_sha256(const std::vector<std::pair<std::string, std::span<const std::byte>>>& sections,
                  const std::vector<std::string>& words) {
  return spec_pcr11("sha256", sections, words);
}

// The TPM2 PolicyPCR digest for PCR 11 of `bank` holding `pcr_hex`, from
// reference/uki-signing-pcr.md §3.3 (the "pol" of a .pcrsig entry): always
// SHA-256, over zeros, TPM_CC_PolicyPCR, the PCR selection (one bank, 3
// bytes, bit 11) and SHA-256 of the PCR value. Lowercase hex.
inline std::string spec_policy_pcr11(std::string_view bank, std::string_view pcr_hex) {
  const unsigned char alg = bank == "sha1"     ? 0x04
                            : bank == "sha256" ? 0x0b
                            : bank == "sha384" ? 0x0c
                            : bank == "sha512" ? 0x0d
                                               : 0;
  if (!alg) throw std::runtime_error("unknown bank " + std::string(bank));
  const auto pcr = bytes_of_hex(pcr_hex);
  const unsigned char fields[] = {
      0x00, 0x00, 0x01, 0x7f, // TPM_CC_PolicyPCR
      0x00, 0x00, 0x00, 0x01, // TPML_PCR_SELECTION count
      0x00, alg,  0x03,       // hash algorithm, sizeofSelect
      0x00, 0x08, 0x00,       // PCR 11
  };
  std::vector<unsigned char> in(32, 0); // the policy digest so far: zeros
  in.insert(in.end(), std::begin(fields), std::end(fields));
  unsigned char digest[32];
  unsigned int len = 0;
  if (EVP_Digest(pcr.data(), pcr.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest");
  in.insert(in.end(), digest, digest + 32);
  if (EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest");
  return hex_of(digest);
}

// The real third-party inputs scripts/fetch-inputs.sh unpacked (systemd-stub,
// systemd-boot, the signed Debian kernel): $UKIKIT_INPUTS/NAME (by default
// the directory CMake's UKIKIT_INPUTS names), or an empty path when absent.
inline fs::path input(std::string_view name) {
  const char* dir = std::getenv("UKIKIT_INPUTS");
#ifdef UKIKIT_DEFAULT_INPUTS
  if (!dir || !*dir) dir = UKIKIT_DEFAULT_INPUTS;
#endif
  if (!dir || !*dir) return {};
  fs::path p = fs::path(dir) / name;
  return fs::exists(p) ? p : fs::path();
}

// Whether a missing input fails the test (CI) instead of skipping it.
inline bool inputs_required() {
  const char* v = std::getenv("UKIKIT_REQUIRE_INPUTS");
  return v && std::string_view(v) == "1";
}

// A built tool (ukikit, ukiverify …), from the build tree.
inline std::string tool(std::string_view name) {
#ifdef UKIKIT_TOOLS_DIR
  return sh_quote((fs::path(UKIKIT_TOOLS_DIR) / name).string());
#else
  return std::string(name);
#endif
}

// `command` run as a second run would be on another machine and day: from
// `cwd`, in another time zone and locale, with another umask, a second later
// and the clock (faketime) 400 days ahead, SOURCE_DATE_EPOCH unset. ASan's
// runtime is told not to insist on coming first (libfaketime is preloaded).
inline std::string elsewhere(const fs::path& cwd, const std::string& command) {
  fs::create_directories(cwd);
  return "sleep 1 && cd " + sh_quote(cwd.string()) +
         " && umask 077 && env -u SOURCE_DATE_EPOCH TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 "
         "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\" "
         "faketime -f +400d " +
         command;
}

} // namespace ukikit::test

// Every precondition a test has beyond its own code (a real tool, a
// third-party input, a release of one, root) goes through UKIKIT_NEED: when
// it does not hold the test is skipped, or fails when UKIKIT_REQUIRE_INPUTS=1
// (CI, scripts/test.sh), with a message that names what is missing. A test
// never passes because a check it was meant to make could not run.
#define UKIKIT_NEED(condition, what)                                                               \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      if (::ukikit::test::inputs_required())                                                       \
        FAIL() << "missing: " << what << " (required as UKIKIT_REQUIRE_INPUTS=1)";                 \
      GTEST_SKIP() << "missing: " << what;                                                         \
    }                                                                                              \
  } while (0)

// Declare `var` as the path of input NAME, or skip (fail in CI) without it.
#define UKIKIT_NEED_INPUT(var, name)                                                               \
  const auto var = ::ukikit::test::input(name);                                                    \
  UKIKIT_NEED(!var.empty(), "input " << name << " (run scripts/fetch-inputs.sh)")

// Skip (fail in CI) when a real tool is not installed: NAME on PATH, or an
// executable at the absolute path NAME.
#define UKIKIT_NEED_TOOL(name)                                                                     \
  UKIKIT_NEED(::ukikit::test::have_tool(name), "tool " << name << " (run scripts/setup.sh)")

// Skip (fail in CI) unless every case's `tool` is installed: for tests that
// loop over the real tools.
#define UKIKIT_NEED_TOOLS_OF(cases)                                                                \
  for (const auto& ukikit_need_case : cases) UKIKIT_NEED_TOOL(ukikit_need_case.tool)
