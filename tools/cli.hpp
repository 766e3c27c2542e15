// What every ukikit tool shares: exit codes, error reporting, size
// arguments, reading inputs, and progress on stderr when it is a terminal.
#pragma once

#include <ukikit/bytes.hpp>
#include <ukikit/compress/common.hpp>
#include <ukikit/diagnostics.hpp>
#include <ukikit/file.hpp>
#include <ukikit/hash.hpp>
#include <ukikit/report/json.hpp>
#include <ukikit/result.hpp>
#include <ukikit/version.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
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

// Edit distance (insertions, deletions, substitutions, adjacent swaps).
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// A command word that names no subcommand where one is required ("ukikit
// inspct"): the message names it and the nearest commands, instead of
// CLI11's "A subcommand is required". nullopt when the words are commands.
inline std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* cur = &app;
  std::string path = app.get_name();
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word.empty() || word.front() == '-') continue; // options of the command so far
    const auto subs = cur->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty() || cur->get_require_subcommand_min() == 0) return std::nullopt;
    CLI::App* next = nullptr;
    for (CLI::App* sub : subs)
      if (sub->check_name(std::string(word))) next = sub;
    if (next == nullptr) {
      std::vector<std::string> near;
      std::size_t best = 3; // at most two edits, or a prefix
      for (CLI::App* sub : subs) {
        const std::string& name = sub->get_name();
        std::size_t dist = name.rfind(word, 0) == 0 ? 1 : edit_distance(word, name);
        if (dist < best) {
          best = dist;
          near.clear();
        }
        if (dist == best) near.push_back(name);
      }
      std::string names;
      for (CLI::App* sub : subs) names += (names.empty() ? "" : ", ") + sub->get_name();
      std::string text = path + ": unknown command '" + escape_controls(word) + "'";
      if (!near.empty()) {
        text += " (did you mean";
        for (std::size_t k = 0; k < near.size(); ++k)
          text += (k == 0 ? " '" : k + 1 == near.size() ? " or '" : ", '") + near[k] + "'";
        text += "?)";
      }
      return text + "; the commands are: " + names;
    }
    cur = next;
    path += " " + next->get_name();
  }
  return std::nullopt;
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
  if (auto unknown = unknown_command(app, argc, argv)) {
    std::cerr << *unknown << '\n';
    return exit_usage;
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

// --threads N for decoding: xz streams of several blocks on N threads (0,
// the default, one per core); output and errors do not depend on it.
inline void add_decode_threads_option(CLI::App* cmd, unsigned& threads) {
  cmd->add_option("--threads", threads,
                  "Threads for xz streams of several blocks (default 0: one per core; the "
                  "output does not depend on it)")
      ->check(CLI::Range(0u, compress::max_threads));
}

// Where keys live, as systemd-sbsign and systemd-measure say it
// (--private-key-source, --certificate-source: file, engine:NAME or
// provider:NAME) and, when `engine` is given, as sbsign says it (--engine
// NAME). A PKCS#11 key: --private-key-source engine:pkcs11 with the key as
// pkcs11:token=…;object=…;type=private;pin-value=….
inline void add_key_source_options(CLI::App* cmd, std::string& key_source, std::string& cert_source,
                                   std::string* engine) {
  const auto valid = [](const std::string& v) -> std::string {
    if (v == "file" || ((v.rfind("engine:", 0) == 0 || v.rfind("provider:", 0) == 0) &&
                        v.find(':') + 1 < v.size()))
      return {};
    return "a source is file, engine:NAME or provider:NAME";
  };
  auto* k = cmd->add_option("--private-key-source", key_source,
                            "Where the private key is: file (default), engine:NAME (the pkcs11 "
                            "engine takes pkcs11: URIs) or provider:NAME")
                ->check(valid);
  cmd->add_option("--certificate-source", cert_source,
                  "Where the certificate is: file (default), engine:NAME or provider:NAME")
      ->check(valid);
  if (engine != nullptr)
    cmd->add_option("--engine", *engine, "sbsign's name: --private-key-source engine:NAME")
        ->excludes(k);
}

inline void add_version(CLI::App& app) {
  app.set_version_flag("--version", std::string(app.get_name()) + " " + ukikit::version);
}

// How --json prints: `--json` and `--json=pretty` indented as the library's
// reports are, `--json=short` on one line, `--json=off` as if not given
// (systemd's spelling). One command runs per process, so one style.
enum class json_style : std::uint8_t { pretty, compact };
inline json_style& json_output_style() noexcept {
  static json_style style = json_style::pretty;
  return style;
}

// --json[=pretty|short|off]: sets `json` and the style of json_text().
inline CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& what) {
  auto mode = std::make_shared<std::string>();
  auto* opt = cmd.add_flag("--json{pretty}", *mode, what + " (--json=short: on one line)");
  opt->check(CLI::IsMember({"pretty", "short", "off"}));
  opt->each([&json, mode](const std::string& v) {
    json = v != "off";
    json_output_style() = v == "short" ? json_style::compact : json_style::pretty;
  });
  return opt;
}

// JSON text for stdout, as the library's reports write it (invalid UTF-8 from
// inputs becomes U+FFFD, so the output is always one valid JSON document), or
// on one line after --json=short.
inline std::string json_text(const nlohmann::ordered_json& j) {
  if (json_output_style() == json_style::compact)
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return ukikit::report::json_text(j);
}

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
