// `ukikit layer list` and the library report behind it: the listing of a
// layer equals GNU tar's `--numeric-owner --utc -tv` line for line, for
// archives from GNU tar and bsdtar, raw and gzip, zstd or xz compressed; the
// JSON the tool prints is the library's to_json; what the reader tolerated
// is reported by code; strict mode refuses it.
#include "support.hpp"

#include <ukikit/report/layer.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace ukikit;
namespace t = ukikit::test;

std::string q(const t::fs::path& p) { return t::sh_quote(p.string()); }

// A tree with a long name, a long symlink target, a hard link, a setuid file,
// a fifo, a name with a newline and a byte >= 0x80, an empty file.
void make_tree(const t::fs::path& root) {
  t::fs::create_directories(root / "dir/sub");
  t::write_file(root / "dir/a.txt", "hello\n");
  t::write_file(root / "empty", "");
  t::write_file(root / "dir/sub/big.bin", t::sample_bytes(300000, 5));
  t::fs::create_symlink("a.txt", root / "dir/link");
  t::fs::create_hard_link(root / "dir/a.txt", root / "dir/hard");
  const std::string deep = std::string(120, 'd') + "/" + std::string(90, 'e');
  t::fs::create_directories(root / deep);
  t::write_file(root / deep / (std::string(150, 'f') + ".txt"), "long\n");
  t::fs::create_symlink(std::string(200, 't'), root / "dir/longlink");
  t::write_file(root / "odd\nname \xe9", "x");
  t::write_file(root / "suid", "s");
  ASSERT_EQ(t::run("chmod 4755 " + q(root / "suid") + " && mkfifo " + q(root / "fifo") +
                   " && find " + q(root) + " -exec touch -h -d @1700000000 {} +")
                .status,
            0);
}

std::string gnu_listing(const t::fs::path& archive) {
  auto r = t::run("LC_ALL=C tar --numeric-owner --utc -tvf " + q(archive));
  EXPECT_EQ(r.status, 0);
  return r.out;
}

TEST(LayerList, VerboseListingEqualsGnuTarForEveryWriterAndCompression) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("bsdtar");
  UKIKIT_NEED_TOOL("gzip");
  UKIKIT_NEED_TOOL("zstd");
  UKIKIT_NEED_TOOL("xz");
  t::temp_dir dir;
  make_tree(dir / "tree");
  const std::string tree = q(dir / "tree");
  std::vector<std::pair<std::string, std::string>> writers = {
      {"gnu.tar", "tar --format=gnu --sort=name -cf OUT -C " + tree + " ."},
      {"pax.tar", "tar --format=pax --sort=name -cf OUT -C " + tree + " ."},
      {"oldgnu.tar", "tar --format=oldgnu --sort=name -cf OUT -C " + tree + " ."},
      {"bsd-pax.tar", "cd " + tree + " && bsdtar --format pax -cf OUT ."},
      {"bsd-gnu.tar", "cd " + tree + " && bsdtar --format gnutar -cf OUT ."},
  };
  for (const auto& [name, cmd] : writers) {
    const auto out = dir / name;
    std::string c = cmd;
    c.replace(c.find("OUT"), 3, q(out));
    ASSERT_EQ(t::run(c).status, 0) << c;
    const std::string expected = gnu_listing(out);
    ASSERT_FALSE(expected.empty());
    for (const char* z : {"", "gzip -9n", "zstd -q -19", "xz -q"}) {
      auto file = out;
      if (*z) {
        file = dir / (name + "." + std::string(z).substr(0, 2));
        ASSERT_EQ(t::run(std::string(z) + " -c " + q(out) + " > " + q(file)).status, 0);
      }
      auto r = t::run(t::tool("ukikit") + " layer list -v " + q(file));
      EXPECT_EQ(r.status, 0) << file;
      EXPECT_EQ(r.out, expected) << file;
      auto names = t::run(t::tool("ukikit") + " layer list " + q(file));
      EXPECT_EQ(names.out, t::run("LC_ALL=C tar -tf " + q(out)).out) << file;
    }
  }
}

TEST(LayerList, JsonIsTheLibraryReport) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("zstd");
  t::temp_dir dir;
  make_tree(dir / "tree");
  ASSERT_EQ(t::run("tar --format=pax --sort=name -cf - -C " + q(dir / "tree") + " . | zstd -q > " +
                   q(dir / "l.tar.zst"))
                .status,
            0);
  const auto bytes = t::read_file(dir / "l.tar.zst");
  auto rep = report::list_layer(bytes);
  ASSERT_TRUE(rep) << rep.error().message();
  EXPECT_EQ(rep->compression, compress::format::zstd);
  auto r = t::run(t::tool("ukikit") + " layer list --json " + q(dir / "l.tar.zst"));
  ASSERT_EQ(r.status, 0);
  // The tool's dump: indent 2, bytes that are not UTF-8 (the name with 0xe9)
  // as U+FFFD.
  const auto mine = report::to_json(*rep);
  EXPECT_EQ(r.out,
            mine.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
  auto j = nlohmann::ordered_json::parse(r.out);
  EXPECT_EQ(j["compression"], "zstd");
  for (const auto& e : j["entries"])
    for (const char* key : {"path", "type", "mode", "uid", "gid", "size", "mtime", "offset"})
      EXPECT_TRUE(e.contains(key)) << key;
  EXPECT_TRUE(j["findings"].is_array());
}

// TARmageddon by hand: a pax size of 1024 over a ustar size of 1. The
// listing follows the pax size, reports the disagreement by code, and
// --strict refuses the layer.
TEST(LayerList, ReadersDisagreementIsReportedByCodeAndRefusedWhenStrict) {
  t::temp_dir dir;
  auto header = [](std::string name, char type, std::size_t size) {
    std::string b(512, '\0');
    auto put = [&b](std::size_t at, std::string_view v) {
      std::copy(v.begin(), v.end(), b.begin() + at);
    };
    put(0, name);
    put(100, "0000644");
    put(108, "0000000");
    put(116, "0000000");
    char num[16];
    std::snprintf(num, sizeof num, "%011zo", size);
    put(124, num);
    put(136, "00000000000");
    b[156] = type;
    put(257, std::string_view("ustar\0"
                              "00",
                              8));
    unsigned sum = 0;
    for (std::size_t i = 0; i < 512; ++i)
      sum += (i >= 148 && i < 156) ? unsigned{' '} : static_cast<unsigned char>(b[i]);
    std::snprintf(num, sizeof num, "%06o", sum);
    put(148, num);
    b[155] = ' ';
    return b;
  };
  auto padded = [](std::string d) { return d + std::string((512 - d.size() % 512) % 512, '\0'); };
  const std::string inner = header("smuggled", '0', 4) + padded("evil");
  const std::string rec = "13 size=" + std::to_string(inner.size()) + "\n";
  ASSERT_EQ(rec.size(), 13U);
  std::string archive = header("PaxHeaders/x", 'x', rec.size()) + padded(rec) +
                        header("innocent", '0', 1) + inner + header("after", '0', 2) +
                        padded("ok") + std::string(1024, '\0');
  t::write_file(dir / "desync.tar", archive);
  auto r = t::run(t::tool("ukikit") + " layer list --json " + q(dir / "desync.tar"));
  ASSERT_EQ(r.status, 0);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["entries"].size(), 2U);
  EXPECT_EQ(j["entries"][0]["path"], "innocent");
  EXPECT_EQ(j["entries"][0]["size"], inner.size());
  bool found = false;
  for (const auto& f : j["findings"])
    if (f["code"] == "tar.size-mismatch") found = f["severity"] == "error";
  EXPECT_TRUE(found);
  auto strict =
      t::run(t::tool("ukikit") + " layer list --strict " + q(dir / "desync.tar") + " 2>/dev/null");
  EXPECT_EQ(strict.status, 2);
  // GNU tar, which ignores nothing of pax, agrees with the listing.
  UKIKIT_NEED_TOOL("tar");
  EXPECT_EQ(t::run("LC_ALL=C tar -tf " + q(dir / "desync.tar") + " 2>/dev/null").out,
            "innocent\nafter\n");
}

TEST(LayerList, DataAfterTheCompressedStreamIsReported) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("gzip");
  t::temp_dir dir;
  t::write_file(dir / "f", "x");
  ASSERT_EQ(t::run("tar -cf - -C " + q(dir.path()) + " f | gzip -n > " + q(dir / "l.tgz") +
                   " && printf junk >> " + q(dir / "l.tgz"))
                .status,
            0);
  auto bytes = t::read_file(dir / "l.tgz");
  auto rep = report::list_layer(bytes);
  ASSERT_TRUE(rep) << rep.error().message();
  ASSERT_EQ(rep->findings.kept().size(), 1U);
  EXPECT_EQ(rep->findings.kept()[0].code, report::code::layer_trailing_data);
  report::layer_options strict;
  strict.mode = strictness::strict;
  EXPECT_FALSE(report::list_layer(bytes, strict));
}

TEST(LayerList, DecompressedSizeIsBounded) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("zstd");
  t::temp_dir dir;
  t::write_file(dir / "zeros", std::string(1 << 20, '\0'));
  ASSERT_EQ(
      t::run("tar -cf - -C " + q(dir.path()) + " zeros | zstd -q > " + q(dir / "l.zst")).status, 0);
  auto bytes = t::read_file(dir / "l.zst");
  report::layer_options small;
  small.max_size = 4096;
  auto rep = report::list_layer(bytes, small);
  ASSERT_FALSE(rep);
  EXPECT_EQ(rep.error().code(), errc::limit_exceeded);
  auto r = t::run(t::tool("ukikit") + " layer list --max-size 4K " + q(dir / "l.zst") + " 2>&1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--max-size"), std::string::npos) << r.out;
}

// A raw layer file is read header by header (pread, the data skipped): the
// lines are GNU tar's, an archive cut inside a file's data is an error as
// GNU tar says, bytes after the end are reported by code, and with diff_id
// every byte is still hashed (sha256sum's digest).
TEST(LayerList, RawFileReadHeaderByHeaderAgreesWithGnuTar) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("sha256sum");
  t::temp_dir dir;
  make_tree(dir / "tree");
  for (const char* format : {"gnu", "pax", "ustar"}) {
    SCOPED_TRACE(format);
    const auto out = dir / (std::string(format) + ".tar");
    // ustar cannot hold the long names: those stay out of it.
    const std::string filter =
        std::string(format) == "ustar" ? " --exclude=ddd* --exclude=longlink" : "";
    ASSERT_EQ(t::run("tar --format=" + std::string(format) + filter + " --sort=name -cf " + q(out) +
                     " -C " + q(dir / "tree") + " .")
                  .status,
              0);
    auto in = file::read_file::open(out);
    ASSERT_TRUE(in) << in.error().message();
    std::string names, verbose;
    report::layer_options lo;
    lo.diff_id = std::string(format) == "pax";
    auto rep = report::list_layer_text(*in, lo, report::listing_format::names, names);
    ASSERT_TRUE(rep) << rep.error().message();
    EXPECT_EQ(names, t::run("LC_ALL=C tar -tf " + q(out)).out);
    EXPECT_TRUE(rep->entries.empty());
    EXPECT_EQ(rep->compression, compress::format::none);
    EXPECT_EQ(rep->tar_size, t::fs::file_size(out));
    EXPECT_TRUE(rep->findings.kept().empty());
    if (lo.diff_id) {
      ASSERT_TRUE(rep->diff_id);
      EXPECT_EQ(rep->diff_id->hex(),
                t::run("sha256sum < " + q(out) + " | cut -d' ' -f1").out.substr(0, 64));
    }
    ASSERT_TRUE(report::list_layer_text(*in, {}, report::listing_format::verbose, verbose));
    EXPECT_EQ(verbose, gnu_listing(out));
  }
  const auto whole_bytes = t::read_file(dir / "gnu.tar");
  const std::string whole(as_chars(whole_bytes));
  // Cut inside big.bin's data (300000 bytes): GNU tar fails too.
  const std::string big = "dir/sub/big.bin";
  const auto at = whole.find(big);
  ASSERT_NE(at, std::string::npos);
  t::write_file(dir / "cut.tar", whole.substr(0, at + 100000));
  EXPECT_NE(t::run("tar -tf " + q(dir / "cut.tar") + " >/dev/null 2>&1").status, 0);
  auto cut = file::read_file::open(dir / "cut.tar");
  ASSERT_TRUE(cut);
  std::string text;
  auto bad = report::list_layer_text(*cut, {}, report::listing_format::names, text);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), errc::truncated);
  EXPECT_EQ(t::run(t::tool("ukikit") + " layer list " + q(dir / "cut.tar") + " 2>/dev/null").status,
            2);
  // Bytes after the end (past GNU tar's zero padding, beyond one read).
  std::string trailing = whole;
  trailing += std::string(3 << 20, '\0') + "junk";
  t::write_file(dir / "trailing.tar", trailing);
  auto tr = file::read_file::open(dir / "trailing.tar");
  ASSERT_TRUE(tr);
  text.clear();
  auto late = report::list_layer_text(*tr, {}, report::listing_format::names, text);
  ASSERT_TRUE(late) << late.error().message();
  EXPECT_EQ(text, t::run("LC_ALL=C tar -tf " + q(dir / "gnu.tar")).out);
  ASSERT_EQ(late->findings.kept().size(), 1U);
  EXPECT_EQ(late->findings.kept()[0].code, tar::code::trailing_data);
  EXPECT_EQ(late->findings.kept()[0].offset, trailing.size() - 4);
}

} // namespace
