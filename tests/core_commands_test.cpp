// `ukikit digest`, `ukikit compress` and `ukikit decompress` (README
// "Tools"), run as programs and checked against coreutils' sha*sum and the
// real zstd, xz, gzip and pigz: their digests are ours, what we compress
// they decompress to the input, and what they compress we decompress.
#include <ukikit/bytes.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace {

namespace t = ukikit::test;
namespace fs = std::filesystem;
using bytes = std::vector<std::byte>;

std::string q(const fs::path& p) { return t::sh_quote(p.string()); }

class core_commands : public ::testing::Test {
protected:
  fs::path path(const std::string& name) const { return dir.path() / name; }

  // `ukikit ARGS` (stderr kept apart in stderr.txt).
  t::run_result ukikit(const std::string& args) {
    return t::run(t::tool("ukikit") + " " + args + " 2>" + q(path("stderr.txt")));
  }
  std::string err() { return std::string(ukikit::as_chars(t::read_file(path("stderr.txt")))); }

  // A shell command that must succeed; its stdout.
  std::string sh(const std::string& command) {
    auto r = t::run(command);
    EXPECT_EQ(r.status, 0) << command;
    return r.out;
  }

  t::temp_dir dir;
};

// ---- digest --------------------------------------------------------------------

TEST_F(core_commands, digest_equals_coreutils_for_every_algorithm_and_file) {
  // Empty, small, and larger than the 16 MiB pieces the command hashes in.
  t::write_file(path("empty"), bytes{});
  t::write_file(path("small file"), std::string_view("hello, digest\n"));
  t::write_file(path("big"), t::sample_bytes((16u << 20) + 12345, 7));
  const std::string files = q(path("empty")) + " " + q(path("small file")) + " " + q(path("big"));
  for (const std::string alg : {"sha1", "sha256", "sha384", "sha512"}) {
    SCOPED_TRACE(alg);
    UKIKIT_NEED_TOOL(alg + "sum");
    // coreutils prints "HEX  FILE"; ukikit the OCI form "ALG:HEX  FILE".
    std::string want;
    const std::string theirs = sh(alg + "sum " + files);
    for (std::size_t at = 0, nl; (nl = theirs.find('\n', at)) != std::string::npos; at = nl + 1)
      want += alg + ":" + theirs.substr(at, nl - at) + "\n";
    ASSERT_EQ(std::count(want.begin(), want.end(), '\n'), 3);
    auto ours = ukikit("digest --algorithm " + alg + " " + files);
    EXPECT_EQ(ours.status, 0) << err();
    EXPECT_EQ(ours.out, want);
  }
  // sha256 is the default.
  auto def = ukikit("digest " + q(path("big")));
  EXPECT_EQ(def.out, "sha256:" + sh("sha256sum " + q(path("big"))));
}

TEST_F(core_commands, digest_json_has_every_requested_algorithm_per_file) {
  UKIKIT_NEED_TOOL("sha384sum");
  UKIKIT_NEED_TOOL("sha1sum");
  t::write_file(path("a"), t::sample_bytes(5000, 1));
  t::write_file(path("b"), t::sample_bytes(7000, 2));
  auto r = ukikit("digest --json -a sha384 -a sha1 " + q(path("a")) + " " + q(path("b")));
  ASSERT_EQ(r.status, 0) << err();
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["files"].size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const fs::path f = path(i == 0 ? "a" : "b");
    EXPECT_EQ(j["files"][i]["file"], f.string());
    for (const std::string alg : {"sha384", "sha1"}) {
      const std::string theirs = sh(alg + "sum " + q(f));
      EXPECT_EQ(j["files"][i][alg], alg + ":" + theirs.substr(0, theirs.find(' ')));
    }
  }
}

// systemd's --json=pretty|short|off, on every command that has --json.
TEST_F(core_commands, json_takes_pretty_short_and_off_as_systemd_tools_do) {
  t::write_file(path("a"), t::sample_bytes(5000, 1));
  const std::string file = " " + q(path("a"));
  auto bare = ukikit("digest --json" + file);
  auto pretty = ukikit("digest --json=pretty" + file);
  auto compact = ukikit("digest --json=short" + file);
  auto off = ukikit("digest --json=off" + file);
  auto text = ukikit("digest" + file);
  for (const auto* r : {&bare, &pretty, &compact, &off, &text}) ASSERT_EQ(r->status, 0) << err();
  EXPECT_EQ(pretty.out, bare.out);
  EXPECT_GT(std::count(bare.out.begin(), bare.out.end(), '\n'), 3);
  EXPECT_EQ(std::count(compact.out.begin(), compact.out.end(), '\n'), 1) << compact.out;
  EXPECT_EQ(nlohmann::json::parse(compact.out), nlohmann::json::parse(bare.out));
  EXPECT_EQ(off.out, text.out);
  EXPECT_EQ(text.out.rfind("sha256:", 0), 0u) << text.out;
  // --json takes no separate argument: the word after it is the next one.
  auto spaced = ukikit("digest --json " + q(path("a")));
  EXPECT_EQ(spaced.out, bare.out);
  EXPECT_EQ(ukikit("digest --json=yes" + file).status, 2);
  EXPECT_NE(err().find("pretty"), std::string::npos) << err();
}

// A mistyped command is named, with the nearest ones, at every level.
TEST_F(core_commands, an_unknown_command_is_named_with_the_nearest_one) {
  auto r = ukikit("inspct x.efi");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(err().find("ukikit: unknown command 'inspct' (did you mean 'inspect'?)"),
            std::string::npos)
      << err();
  r = ukikit("initrd lsit x.img");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(err().find("ukikit initrd: unknown command 'lsit' (did you mean 'list'?)"),
            std::string::npos)
      << err();
  r = ukikit("image verfy --json x");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(err().find("ukikit image: unknown command 'verfy' (did you mean 'verify'?)"),
            std::string::npos)
      << err();
  r = ukikit("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(err().find("ukikit: unknown command 'frobnicate'; the commands are: build, sign"),
            std::string::npos)
      << err();
  // Known commands and options are untouched.
  EXPECT_EQ(ukikit("--version").status, 0);
  EXPECT_EQ(ukikit("initrd --help").status, 0);
  EXPECT_EQ(ukikit("digest " + q(path("missing"))).status, 2);
  EXPECT_EQ(err().find("unknown command"), std::string::npos) << err();
}

TEST_F(core_commands, digest_of_a_missing_file_is_exit_2_and_the_others_are_printed) {
  t::write_file(path("a"), std::string_view("a"));
  auto r = ukikit("digest " + q(path("missing")) + " " + q(path("a")));
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "sha256:" + sh("sha256sum " + q(path("a"))));
  EXPECT_NE(err().find("missing"), std::string::npos) << err();
  EXPECT_EQ(ukikit("digest --algorithm md5 " + q(path("a"))).status, 2);
}

// ---- compress --------------------------------------------------------------------

struct codec {
  std::string format;     // ukikit's --format
  std::string tool;       // the real program
  std::string decompress; // its command line that decompresses stdin to stdout
  std::string compress;   // its command line that compresses stdin to stdout
};

const codec codecs[] = {
    {"zstd", "zstd", "zstd -q -dc", "zstd -q -c"},
    {"xz", "xz", "xz -dc", "xz -c"},
    {"gzip", "gzip", "gzip -dc", "gzip -n -c"},
};

TEST_F(core_commands, compressed_output_decompresses_with_the_real_tool_to_the_input) {
  // Text-like data: once larger than the 4 MiB pieces the command reads in
  // (default options), then smaller for the other options.
  t::write_file(path("big"), t::sample_bytes((4u << 20) + 4321, 3));
  t::write_file(path("small"), t::sample_bytes(300000, 4));
  for (const auto& c : codecs) {
    UKIKIT_NEED_TOOL(c.tool);
    for (const std::string options : {"", " --level 1", " --level 9", " --threads 2"}) {
      if (c.format == "gzip" && options == " --threads 2") continue; // zstd and xz only
      SCOPED_TRACE(c.format + options);
      fs::copy_file(path(options.empty() ? "big" : "small"), path("in"),
                    fs::copy_options::overwrite_existing);
      const auto input = t::read_file(path("in"));
      auto r = ukikit("compress --format " + c.format + options + " -o " + q(path("out")) + " " +
                      q(path("in")));
      ASSERT_EQ(r.status, 0) << err();
      EXPECT_LT(fs::file_size(path("out")), input.size());
      sh(c.decompress + " < " + q(path("out")) + " > " + q(path("back")));
      EXPECT_EQ(t::read_file(path("back")), input);
      // The same input and options give the same bytes.
      ASSERT_EQ(ukikit("compress --format " + c.format + options + " -o " + q(path("again")) + " " +
                       q(path("in")))
                    .status,
                0);
      EXPECT_EQ(t::read_file(path("again")), t::read_file(path("out")));
    }
  }
  // zstd is the default format; "-o -" writes to stdout.
  auto out = ukikit("compress -o - " + q(path("in")) + " | zstd -q -dc | cmp - " + q(path("in")));
  EXPECT_EQ(out.status, 0) << err();
}

TEST_F(core_commands, xz_output_has_the_crc32_check_xz_lists) {
  UKIKIT_NEED_TOOL("xz");
  t::write_file(path("in"), t::sample_bytes(100000, 4));
  ASSERT_EQ(ukikit("compress --format xz -o " + q(path("in.xz")) + " " + q(path("in"))).status, 0)
      << err();
  // xz --robot --list: the "stream" lines carry the check name (column 10).
  const std::string list = sh("xz --robot --list " + q(path("in.xz")));
  EXPECT_NE(list.find("\tCRC32\t"), std::string::npos) << list;
  EXPECT_EQ(list.find("CRC64"), std::string::npos) << list;
}

TEST_F(core_commands, empty_input_compresses_to_what_the_real_tool_reads_as_empty) {
  t::write_file(path("empty"), bytes{});
  for (const auto& c : codecs) {
    SCOPED_TRACE(c.format);
    UKIKIT_NEED_TOOL(c.tool);
    ASSERT_EQ(
        ukikit("compress --format " + c.format + " -o " + q(path("e")) + " " + q(path("empty")))
            .status,
        0)
        << err();
    EXPECT_EQ(sh(c.decompress + " < " + q(path("e"))), "");
  }
}

// ---- decompress --------------------------------------------------------------------

TEST_F(core_commands, real_tools_output_decompresses_to_the_input) {
  t::write_file(path("in"), t::sample_bytes(600000, 5));
  const auto input = t::read_file(path("in"));
  struct made {
    std::string tool, command;
  };
  const made cases[] = {
      {"zstd", "zstd -q -19 -c"},
      {"zstd", "zstd -q -T2 --long=27 -c"},
      {"xz", "xz -c"},
      {"xz", "xz -C crc64 -e -c"},
      {"xz", "xz -C sha256 -c"},
      {"xz", "xz --format=lzma -c"},
      {"gzip", "gzip -n -9 -c"},
      {"gzip", "gzip -c"},
      {"pigz", "pigz -p 2 -c"},
      {"pigz", "pigz -1 -b 32 -c"},
  };
  for (const auto& m : cases) {
    SCOPED_TRACE(m.command);
    UKIKIT_NEED_TOOL(m.tool);
    sh(m.command + " < " + q(path("in")) + " > " + q(path("c")));
    auto r = ukikit("decompress -o " + q(path("out")) + " " + q(path("c")));
    ASSERT_EQ(r.status, 0) << err();
    EXPECT_EQ(t::read_file(path("out")), input);
  }
}

TEST_F(core_commands, several_frames_streams_and_members_decompress_in_turn) {
  t::write_file(path("a"), t::sample_bytes(200000, 6));
  t::write_file(path("b"), t::sample_bytes(300001, 7));
  sh("cat " + q(path("a")) + " " + q(path("b")) + " > " + q(path("ab")));
  const auto both = t::read_file(path("ab"));
  for (const auto& c : codecs) {
    SCOPED_TRACE(c.format);
    UKIKIT_NEED_TOOL(c.tool);
    // Two frames, streams or members made by the real tool, one after the other.
    sh("{ " + c.compress + " < " + q(path("a")) + "; " + c.compress + " < " + q(path("b")) +
       "; } > " + q(path("two")));
    ASSERT_EQ(t::read_file(path("two")).empty(), false);
    ASSERT_EQ(
        sh(c.decompress + " < " + q(path("two")) + " | cmp - " + q(path("ab")) + " && echo same"),
        "same\n");
    auto r = ukikit("decompress -o " + q(path("out")) + " " + q(path("two")));
    ASSERT_EQ(r.status, 0) << err();
    EXPECT_EQ(t::read_file(path("out")), both);
  }
}

// xz -T2 output decoded on several threads: the same bytes, and for a cut
// file the same error as on one.
TEST_F(core_commands, decompress_threads_change_neither_output_nor_errors) {
  UKIKIT_NEED_TOOL("xz");
  t::write_file(path("in"), t::sample_bytes(2u << 20, 8));
  sh("xz -0 -T2 --block-size=100000 -c < " + q(path("in")) + " > " + q(path("in.xz")));
  for (const char* threads : {"1", "2", "0"}) {
    SCOPED_TRACE(threads);
    auto r = ukikit(std::string("decompress --threads ") + threads + " -o " + q(path("out")) + " " +
                    q(path("in.xz")));
    ASSERT_EQ(r.status, 0) << err();
    EXPECT_EQ(t::read_file(path("out")), t::read_file(path("in")));
  }
  sh("head -c 150000 " + q(path("in.xz")) + " > " + q(path("cut.xz")));
  auto one = ukikit("decompress --threads 1 -o " + q(path("o1")) + " " + q(path("cut.xz")));
  const std::string err_one = err();
  auto two = ukikit("decompress --threads 2 -o " + q(path("o2")) + " " + q(path("cut.xz")));
  EXPECT_EQ(one.status, 2);
  EXPECT_EQ(two.status, 2);
  EXPECT_NE(err_one.find("truncated xz stream"), std::string::npos) << err_one;
  EXPECT_EQ(err(), err_one);
  EXPECT_EQ(ukikit("decompress --threads 257 -o " + q(path("o3")) + " " + q(path("in.xz"))).status,
            2);
}

TEST_F(core_commands, decompress_stops_at_max_size_and_writes_nothing) {
  t::write_file(path("zeros"), bytes(8u << 20, std::byte{0}));
  for (const auto& c : codecs) {
    SCOPED_TRACE(c.format);
    UKIKIT_NEED_TOOL(c.tool);
    sh(c.compress + " < " + q(path("zeros")) + " > " + q(path("bomb")));
    auto r = ukikit("decompress --max-size 1M -o " + q(path("out")) + " " + q(path("bomb")));
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(err().find("--max-size"), std::string::npos) << err();
    EXPECT_FALSE(fs::exists(path("out"))) << "no half-written output";
    // At exactly the size it passes.
    auto ok = ukikit("decompress --max-size 8M -o " + q(path("out")) + " " + q(path("bomb")));
    EXPECT_EQ(ok.status, 0) << err();
    EXPECT_EQ(fs::file_size(path("out")), 8u << 20);
    fs::remove(path("out"));
  }
}

TEST_F(core_commands, decompress_refuses_data_that_is_not_compressed) {
  t::write_file(path("plain"), std::string_view("070701 not compressed"));
  auto r = ukikit("decompress -o " + q(path("out")) + " " + q(path("plain")));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(err().find("not compressed"), std::string::npos) << err();
  EXPECT_FALSE(fs::exists(path("out")));
}

} // namespace
