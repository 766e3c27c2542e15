// What every ukikit tool shares: exit codes, error reporting, size
// arguments, reading inputs, and progress on stderr when it is a terminal.
#pragma once

#include <ukikit/bytes.hpp>
#include <ukikit/diagnostics.hpp>
#include <ukikit/file.hpp>
#include <ukikit/hash.hpp>
#include <ukikit/report/json.hpp>
#include <ukikit/result.hpp>
#include <ukikit/version.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace ukikit::cli {

// The contract's exit codes (DESIGN.md).
enum exit_code : int {
  exit_ok = 0,     // success
  exit_failed = 1, // a check failed: verification, digest mismatch, policy
  exit_usage = 2,  // usage error, unreadable or malformed input
};

// Errors carry text from the input (names, values): escaped for the terminal.
inline int report(std::string_view tool, const error& e, int code = exit_usage) {
  std::cerr << tool << ": " << escape_controls(e.message()) << '\n';
  return code;
}

// Findings on stderr, one per line: "TOOL: SEVERITY: [SUBJECT: ]TEXT [CODE]",
// and how many were not kept.
inline void print_findings(std::string_view tool, const finding_log& log) {
  for (const auto& f : log)
    std::cerr << tool << ": " << severity_name(f.level) << ": "
              << escape_controls(f.subject.empty() ? f.text() : f.subject + ": " + f.text()) << " ["
              << f.code << "]\n";
  if (log.dropped() != 0)
    std::cerr << tool << ": " << log.dropped() << " more findings not shown\n";
}

// SOURCE_DATE_EPOCH as decimal seconds no larger than `max`; 0 when unset
// or empty (reproducible-builds.org's rule: it is a plain decimal number).
inline result<std::uint64_t> source_date_epoch(std::uint64_t max) {
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (env == nullptr || *env == '\0') return std::uint64_t{0};
  const std::string_view text = env;
  std::uint64_t v = 0;
  for (char c : text) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (c < '0' || c > '9' || v > (max - d) / 10)
      return error(errc::invalid_argument, "SOURCE_DATE_EPOCH is not a number of seconds up to " +
                                               std::to_string(max) + ": " + std::string(text));
    v = v * 10 + d;
  }
  return v;
}

// Parse the command line; on --help/--version or a usage error, return the
// exit code to end with (help and version: 0; errors: 2).
//
// "--option=" (an explicitly empty value, as in `--phases=`) is passed on as
// the option and an empty argument: CLI11 would take the next argument.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args; // CLI11 wants them in reverse order
  for (int i = argc - 1; i >= 1; --i) {
    std::string_view a = argv[i];
    if (a.size() > 3 && a.substr(0, 2) == "--" && a.back() == '=' && a.find('=') == a.size() - 1) {
      args.emplace_back();
      args.emplace_back(a.substr(0, a.size() - 1));
    } else {
      args.emplace_back(a);
    }
  }
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  } catch (const std::exception& e) {
    // Commands run inside parse(); nothing they call should throw on bad
    // input, but a bug must end with a message and status 2, not abort().
    std::cerr << app.get_name() << ": internal error: " << e.what() << '\n';
    return exit_usage;
  }
  return std::nullopt;
}

// --stub-release N: the systemd release of the stub that measures PCR 11,
// for a distribution's stub that measures more than its release did (0:
// the current stub). Default: the stub's own .sdmagic.
// --sbat-policy FILE: shim's SbatLevel revocations (ukiverify, image verify).
inline void add_sbat_policy_option(CLI::App& cmd, std::optional<std::string>& path) {
  cmd.add_option("--sbat-policy", path,
                 "An SbatLevel policy as shim reads it (sbat,1,DATE then component,generation "
                 "rows; the efivarfs SbatLevelRT file works too): fail an image whose .sbat lists "
                 "a revoked generation, or that has no .sbat")
      ->check(CLI::ExistingFile);
}

inline void add_stub_release_option(CLI::App& cmd, std::optional<unsigned>& release) {
  cmd.add_option("--stub-release", release,
                 "systemd release of the stub that measures PCR 11, which measures only the "
                 "sections it knows (252: no .uname .sbat .ucode .profile …); 0: the current "
                 "stub. Default: the release the stub states (LoaderInfo in .sdmagic); 0 for "
                 "section files and images that state none");
}

inline void add_version(CLI::App& app) {
  app.set_version_flag("--version", std::string(app.get_name()) + " " + ukikit::version);
}

// JSON text for stdout, as the library's reports write it (invalid UTF-8 from
// inputs becomes U+FFFD, so the output is always one valid JSON document).
using report::json_text;

// A list option given once or repeated, its values separated by commas or
// spaces: "--phases a,b --phases c" is {a, b, c}.
inline std::vector<std::string> split_list(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::string cur;
    for (char c : a) {
      if (c == ',' || c == ' ') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
  }
  return out;
}

// Hash algorithm names of a list option (split_list); `what` names one in
// the error ("bank", "PCR bank").
inline result<std::vector<hash::algorithm>> parse_algorithms(const std::vector<std::string>& args,
                                                             std::string_view what) {
  std::vector<hash::algorithm> out;
  for (const auto& name : split_list(args)) {
    auto a = hash::parse_algorithm(name);
    if (!a)
      return error(errc::invalid_argument,
                   "unknown " + std::string(what) + " " + name + " (sha1, sha256, sha384, sha512)");
    out.push_back(*a);
  }
  return out;
}

// Whether `path` is an empty regular file: mapped_file maps only non-empty
// files, but an empty file is a valid input to digest (as coreutils' sha*sum
// take it) and to compress (as zstd, xz and gzip do).
inline bool is_empty_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0 &&
         !ec;
}

// A byte count with an optional binary suffix: 4096, 64K, 256M, 1G, 2T.
inline result<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return error(errc::invalid_argument, "empty size");
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    auto next = checked_mul<std::uint64_t>(value, 10);
    if (next) next = checked_add<std::uint64_t>(*next, static_cast<std::uint64_t>(s[i] - '0'));
    if (!next) return error(errc::invalid_argument, "size " + std::string(s) + " is too large");
    value = *next;
  }
  if (i == 0) return error(errc::invalid_argument, "size " + std::string(s) + " is not a number");
  std::string_view suffix = s.substr(i);
  unsigned shift = 0;
  if (suffix == "" || suffix == "B") shift = 0;
  else if (suffix == "K" || suffix == "KiB") shift = 10;
  else if (suffix == "M" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "GiB") shift = 30;
  else if (suffix == "T" || suffix == "TiB") shift = 40;
  else
    return error(errc::invalid_argument,
                 "size " + std::string(s) + " has an unknown suffix (use K, M, G or T)");
  if (shift && value > (UINT64_MAX >> shift))
    return error(errc::invalid_argument, "size " + std::string(s) + " is too large");
  return value << shift;
}

// Progress of long work on stderr, only when stderr is a terminal; at most
// five updates a second, and the line is cleared when done.
class progress {
public:
  progress(std::string label, std::uint64_t total)
      : label_(std::move(label)), total_(total), active_(::isatty(STDERR_FILENO) == 1) {}
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  ~progress() {
    if (active_ && shown_) std::fprintf(stderr, "\r\033[K");
  }

  void update(std::uint64_t done) {
    if (!active_) return;
    auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    shown_ = true;
    if (total_ > 0) {
      std::fprintf(stderr, "\r%s: %3u%% (%llu MiB)\033[K", label_.c_str(),
                   static_cast<unsigned>(done * 100 / total_),
                   static_cast<unsigned long long>(done >> 20));
    } else {
      std::fprintf(stderr, "\r%s: %llu MiB\033[K", label_.c_str(),
                   static_cast<unsigned long long>(done >> 20));
    }
  }

private:
  std::string label_;
  std::uint64_t total_;
  bool active_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// Where a command's output goes: a file written atomically, or stdout ("-").
class output {
public:
  static result<output> open(const std::string& path) {
    output o;
    if (path == "-") return o;
    UKIKIT_TRY_ASSIGN(auto f, file::output_file::create(path));
    o.file_.emplace(std::move(f));
    return o;
  }

  result<void> write(byte_span data) {
    if (file_) return file_->write(data);
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), stdout) != data.size())
      return error(errc::io, "cannot write to stdout");
    return {};
  }

  result<void> commit() {
    if (file_) return file_->commit();
    if (std::fflush(stdout) != 0) return error(errc::io, "cannot write to stdout");
    return {};
  }

private:
  output() = default;
  std::optional<file::output_file> file_;
};

} // namespace ukikit::cli
