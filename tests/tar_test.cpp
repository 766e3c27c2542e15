// tar reader: archives written by GNU tar and bsdtar in every format are read
// as Python's tarfile (an independent reader) reads them; hostile archives
// from the extraction and desync history are refused in strict mode and
// reported by code otherwise; the push parser gives the same entries for
// any chunking.
#include "support.hpp"

#include <ukikit/tar.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <sstream>

// Headers are described with designated initializers; the fields left out
// keep their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using namespace ukikit;
namespace t = ukikit::test;
using bytes = std::vector<std::byte>;

// ---- archives by hand --------------------------------------------------------

struct hdr {
  std::string name;
  char type = '0';
  std::uint64_t size = 0;
  std::string link;
  std::string prefix;
  std::uint64_t mode = 0644;
  std::int64_t mtime = 1700000000;
  enum class magic { ustar, gnu, v7 } kind = magic::ustar;
  bool base256_size = false;
  bool base256_mtime = false;
  bool signed_checksum = false; // store the signed-byte sum
};

void put(bytes& b, std::size_t at, std::string_view s) {
  std::memcpy(b.data() + at, s.data(), s.size());
}

void put_octal(bytes& b, std::size_t at, std::size_t width, std::uint64_t v) {
  std::ostringstream o;
  o.width(static_cast<std::streamsize>(width - 1));
  o.fill('0');
  o << std::oct << v;
  put(b, at, o.str());
}

void put_base256(bytes& b, std::size_t at, std::size_t width, std::int64_t v) {
  std::int64_t rest = v;
  for (std::size_t i = width; i-- > 1;) {
    b[at + i] = std::byte(static_cast<std::uint64_t>(rest) & 0xff);
    rest >>= 8; // arithmetic: a negative number is 0xff-extended
  }
  b[at] = v < 0 ? std::byte{0xff} : std::byte{0x80};
}

bytes header(const hdr& h) {
  bytes b(tar::block_size);
  put(b, 0, h.name.substr(0, 100));
  put_octal(b, 100, 8, h.mode);
  put_octal(b, 108, 8, 0);
  put_octal(b, 116, 8, 0);
  if (h.base256_size) put_base256(b, 124, 12, static_cast<std::int64_t>(h.size));
  else put_octal(b, 124, 12, h.size);
  if (h.base256_mtime) put_base256(b, 136, 12, h.mtime);
  else put_octal(b, 136, 12, static_cast<std::uint64_t>(h.mtime));
  b[156] = std::byte(h.type);
  put(b, 157, h.link.substr(0, 100));
  if (h.kind == hdr::magic::ustar) {
    put(b, 257,
        std::string_view("ustar\0"
                         "00",
                         8));
    put(b, 345, h.prefix);
  } else if (h.kind == hdr::magic::gnu) {
    put(b, 257, std::string_view("ustar  \0", 8));
  }
  std::int64_t s = 0;
  std::uint64_t u = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const bool field = i >= 148 && i < 156;
    const auto c = field ? unsigned{' '} : std::to_integer<unsigned>(b[i]);
    u += c;
    s += field ? ' ' : static_cast<std::int8_t>(c);
  }
  put_octal(b, 148, 7, h.signed_checksum ? static_cast<std::uint64_t>(s) : u);
  b[155] = std::byte{' '};
  return b;
}

void append(bytes& out, const bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

void append_data(bytes& out, std::string_view data) {
  out.insert(out.end(), as_bytes(data).begin(), as_bytes(data).end());
  out.resize(out.size() + (tar::block_size - data.size() % tar::block_size) % tar::block_size);
}

void end_blocks(bytes& out) { out.resize(out.size() + 2 * tar::block_size); }

std::string pax_record(std::string_view key, std::string_view value) {
  const std::string body = " " + std::string(key) + "=" + std::string(value) + "\n";
  std::size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len) ++len;
  return std::to_string(len) + body;
}

// A pax header of `type` ('x' or 'g') with these records, data included.
bytes pax(std::string_view records, char type = 'x') {
  bytes out = header({.name = "PaxHeaders/x", .type = type, .size = records.size()});
  append_data(out, records);
  return out;
}

bytes file_entry(const std::string& name, std::string_view data, hdr h = {}) {
  h.name = name;
  h.size = data.size();
  bytes out = header(h);
  append_data(out, data);
  return out;
}

struct listing {
  std::vector<tar::entry> entries;
  std::vector<std::string> data;
  std::vector<finding> findings;
};

result<listing> read_all(byte_span in, strictness mode = strictness::strict) {
  tar::options o;
  o.mode = mode;
  tar::reader r(in, o);
  listing l;
  for (;;) {
    UKIKIT_TRY_ASSIGN(auto e, r.next());
    if (!e) break;
    l.data.emplace_back(as_chars(e->data));
    l.entries.push_back(std::move(*e));
  }
  l.findings = r.findings().kept();
  return l;
}

bool has_code(const std::vector<finding>& fs, std::string_view code) {
  return std::any_of(fs.begin(), fs.end(), [&](const finding& f) { return f.code == code; });
}

// ---- against GNU tar, bsdtar and Python's tarfile ----------------------------

// Python's tarfile lists an archive as JSON lines: the independent reader.
nlohmann::json python_listing(const t::fs::path& archive) {
  const std::string script = R"PY(
import json, sys, tarfile
kinds = {tarfile.REGTYPE: 'file', tarfile.AREGTYPE: 'file', tarfile.CONTTYPE: 'file',
         tarfile.LNKTYPE: 'hardlink', tarfile.SYMTYPE: 'symlink', tarfile.CHRTYPE: 'chardev',
         tarfile.BLKTYPE: 'blockdev', tarfile.DIRTYPE: 'directory', tarfile.FIFOTYPE: 'fifo'}
out = []
with tarfile.open(sys.argv[1], 'r:') as t:
    for m in t.getmembers():
        out.append({'path': m.name, 'type': kinds.get(m.type, 'other'), 'size': m.size,
                    'link': m.linkname, 'mode': m.mode, 'mtime': int(m.mtime // 1),
                    'uid': m.uid, 'gid': m.gid})
print(json.dumps(out))
)PY";
  auto r = t::run("python3 -c " + t::sh_quote(script) + " " + t::sh_quote(archive.string()));
  EXPECT_EQ(r.status, 0);
  return nlohmann::json::parse(r.out);
}

nlohmann::json our_listing(const listing& l) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : l.entries) {
    std::string p = e.path();
    // tarfile drops the trailing slashes of directory names.
    if (e.type == tar::entry_type::directory)
      while (p.size() > 1 && p.back() == '/') p.pop_back();
    out.push_back({{"path", p},
                   {"type", std::string(tar::type_name(e.type))},
                   {"size", e.size},
                   {"link", std::string(e.linkname)},
                   {"mode", e.mode},
                   {"mtime", e.mtime},
                   {"uid", e.uid},
                   {"gid", e.gid}});
  }
  return out;
}

// A tree with names longer than ustar can hold, a long symlink target, a
// hard link, an empty file, a file of exactly one block and a fifo.
void make_tree(const t::fs::path& root, bool long_names) {
  t::fs::create_directories(root / "dir/sub");
  t::write_file(root / "dir/a.txt", "hello\n");
  t::write_file(root / "empty", "");
  t::write_file(root / "block", std::string(512, 'b'));
  auto big = t::sample_bytes(70000, 3);
  t::write_file(root / "dir/sub/big.bin", big);
  t::fs::create_symlink("a.txt", root / "dir/link");
  t::fs::create_hard_link(root / "dir/a.txt", root / "dir/hard");
  if (long_names) {
    const std::string deep = std::string(120, 'd') + "/" + std::string(90, 'e');
    t::fs::create_directories(root / deep);
    t::write_file(root / deep / (std::string(150, 'f') + ".txt"), "long\n");
    t::fs::create_symlink(std::string(200, 't'), root / "dir/longlink");
    t::run("mkfifo " + t::sh_quote((root / "fifo").string()));
  }
  t::run("touch -h -d @1700000000 $(find " + t::sh_quote(root.string()) + ")");
}

void expect_reads_like_python(const t::fs::path& archive) {
  auto in = t::read_file(archive);
  auto l = read_all(in);
  ASSERT_TRUE(l) << archive << ": " << l.error().message();
  EXPECT_EQ(our_listing(*l), python_listing(archive)) << archive;
  EXPECT_FALSE(has_errors(l->findings)) << archive;
}

TEST(TarReader, ReadsGnuTarArchivesInEveryFormatAsPythonDoes) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  make_tree(dir / "long", true);
  make_tree(dir / "short", false);
  for (const char* format : {"gnu", "pax", "oldgnu"}) {
    auto out = dir / (std::string("long-") + format + ".tar");
    ASSERT_EQ(t::run("tar --format=" + std::string(format) + " --sort=name -cf " +
                     t::sh_quote(out.string()) + " -C " + t::sh_quote((dir / "long").string()) +
                     " .")
                  .status,
              0);
    expect_reads_like_python(out);
  }
  for (const char* format : {"ustar", "v7"}) {
    auto out = dir / (std::string("short-") + format + ".tar");
    ASSERT_EQ(t::run("tar --format=" + std::string(format) + " --sort=name -cf " +
                     t::sh_quote(out.string()) + " -C " + t::sh_quote((dir / "short").string()) +
                     " .")
                  .status,
              0);
    expect_reads_like_python(out);
  }
}

TEST(TarReader, ReadsBsdtarArchivesAsPythonDoes) {
  UKIKIT_NEED_TOOL("bsdtar");
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  make_tree(dir / "long", true);
  make_tree(dir / "short", false);
  for (const char* format : {"pax", "gnutar"}) {
    auto out = dir / (std::string("long-") + format + ".tar");
    ASSERT_EQ(t::run("bsdtar --format " + std::string(format) + " -cf " +
                     t::sh_quote(out.string()) + " -C " + t::sh_quote((dir / "long").string()) +
                     " .")
                  .status,
              0);
    expect_reads_like_python(out);
  }
  auto out = dir / "short-ustar.tar";
  ASSERT_EQ(t::run("bsdtar --format ustar -cf " + t::sh_quote(out.string()) + " -C " +
                   t::sh_quote((dir / "short").string()) + " .")
                .status,
            0);
  expect_reads_like_python(out);
}

// GNU tar -S writes sparse files as `S` entries (gnu) or with GNU.sparse.*
// pax keys (pax 1.0, the map in the data): reported, not expanded, and the
// entries after them are where Python's tarfile finds them.
TEST(TarReader, SparseEntriesAreReportedAndSkippedCorrectly) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("truncate");
  t::temp_dir dir;
  t::fs::create_directories(dir / "s");
  t::write_file(dir / "s/after", "after\n");
  ASSERT_EQ(t::run("truncate -s 3000000 " + t::sh_quote((dir / "s/sparse").string()) +
                   " && printf end | dd of=" + t::sh_quote((dir / "s/sparse").string()) +
                   " bs=1 seek=2000000 conv=notrunc 2>/dev/null")
                .status,
            0);
  for (const char* format : {"gnu", "pax"}) {
    auto out = dir / (std::string(format) + ".tar");
    ASSERT_EQ(t::run("tar --format=" + std::string(format) + " -S -cf " +
                     t::sh_quote(out.string()) + " -C " + t::sh_quote((dir / "s").string()) +
                     " sparse after")
                  .status,
              0);
    auto in = t::read_file(out);
    auto l = read_all(in);
    ASSERT_TRUE(l) << format << ": " << l.error().message();
    auto py = python_listing(out);
    ASSERT_EQ(l->entries.size(), py.size()) << format;
    for (std::size_t i = 0; i < py.size(); ++i)
      EXPECT_EQ(l->entries[i].path(), py[i]["path"]) << format;
    EXPECT_TRUE(l->entries[0].sparse) << format;
    EXPECT_EQ(l->entries[0].sparse_realsize, 3000000U) << format;
    EXPECT_EQ(l->data[1], "after\n") << format;
    EXPECT_TRUE(has_code(l->findings, tar::code::sparse)) << format;
  }
}

TEST(TarReader, EntryNamesAndDataAreViewsIntoTheInput) {
  bytes in = file_entry("a/b.txt", "payload");
  end_blocks(in);
  tar::reader r(in);
  auto e = r.next();
  ASSERT_TRUE(e && *e);
  const auto* lo = reinterpret_cast<const char*>(in.data());
  const auto* hi = lo + in.size();
  EXPECT_GE((*e)->name.data(), lo);
  EXPECT_LT((*e)->name.data(), hi);
  EXPECT_EQ(reinterpret_cast<const std::byte*>((*e)->data.data()), in.data() + 512);
  EXPECT_EQ(as_chars((*e)->data), "payload");
  EXPECT_EQ((*e)->data_offset, 512U);
}

// The push parser, fed in chunks of every size, gives what the reader gives.
TEST(TarParser, AnyChunkingGivesTheReadersEntries) {
  UKIKIT_NEED_TOOL("tar");
  t::temp_dir dir;
  make_tree(dir / "long", true);
  auto out = dir / "a.tar";
  ASSERT_EQ(t::run("tar --format=pax --sort=name -cf " + t::sh_quote(out.string()) + " -C " +
                   t::sh_quote((dir / "long").string()) + " .")
                .status,
            0);
  const auto in = t::read_file(out);
  auto expected = read_all(in);
  ASSERT_TRUE(expected);
  for (std::size_t chunk : {1U, 7U, 511U, 512U, 513U, 4096U}) {
    struct collect {
      std::vector<std::string> paths, links, contents;
      std::string cur;
      result<void> begin(const tar::entry&) {
        cur.clear();
        return success();
      }
      result<void> data_of(byte_span p) {
        cur += as_chars(p);
        return success();
      }
      result<void> data(const tar::entry&, byte_span p) { return data_of(p); }
      result<bool> end(const tar::entry& e) {
        paths.push_back(e.path());
        links.emplace_back(e.linkname);
        contents.push_back(cur);
        return true;
      }
    } c;
    tar::parser p;
    for (std::size_t at = 0; at < in.size(); at += chunk) {
      auto f = p.feed(byte_span(in).subspan(at, std::min(chunk, in.size() - at)), c);
      ASSERT_TRUE(f) << chunk << ": " << f.error().message();
    }
    ASSERT_TRUE(p.finish());
    ASSERT_EQ(c.paths.size(), expected->entries.size()) << chunk;
    for (std::size_t i = 0; i < c.paths.size(); ++i) {
      EXPECT_EQ(c.paths[i], expected->entries[i].path()) << chunk;
      EXPECT_EQ(c.links[i], expected->entries[i].linkname) << chunk;
      EXPECT_EQ(c.contents[i], expected->data[i]) << chunk;
    }
  }
}

// ---- pax ----------------------------------------------------------------------

TEST(TarPax, PathLinkpathTimesIdsAndXattrsOverrideTheHeader) {
  bytes in = pax(pax_record("path", "a/very/long/name") + pax_record("mtime", "-1.25") +
                 pax_record("uid", "4000000000") + pax_record("SCHILY.xattr.user.k", "v\x01w") +
                 pax_record("linkpath", "target"));
  append(in, header({.name = "short", .type = '2'}));
  end_blocks(in);
  auto l = read_all(in);
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->entries.size(), 1U);
  const auto& e = l->entries[0];
  EXPECT_EQ(e.path(), "a/very/long/name");
  EXPECT_EQ(e.linkname, "target");
  EXPECT_EQ(e.mtime, -2);
  EXPECT_EQ(e.mtime_nsec, 750000000U);
  EXPECT_EQ(e.uid, 4000000000U);
  ASSERT_EQ(e.xattrs.size(), 1U);
  EXPECT_EQ(e.xattrs[0].name, "user.k");
  EXPECT_EQ(e.xattrs[0].value, "v\x01w");
  EXPECT_EQ(e.offset, 0U);
  EXPECT_EQ(e.header_offset, 1024U);
}

TEST(TarPax, GlobalHeadersApplyToEveryLaterEntryAndAnEmptyValueRestoresTheHeader) {
  bytes in = pax(pax_record("uid", "77"), 'g');
  append(in, file_entry("one", "1"));
  append(in, pax(pax_record("uid", "")));
  append(in, file_entry("two", "2"));
  end_blocks(in);
  auto l = read_all(in);
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->entries.size(), 2U);
  EXPECT_EQ(l->entries[0].uid, 77U);
  EXPECT_EQ(l->entries[1].uid, 0U);
}

TEST(TarPax, MalformedRecordsAreErrors) {
  for (std::string records :
       {std::string("12 path=abc"), std::string("5 a\n"), std::string("99 path=a\n"),
        std::string("x path=a\n"), std::string("10 =value\n")}) {
    bytes in = pax(records);
    append(in, file_entry("f", ""));
    end_blocks(in);
    for (auto mode : {strictness::strict, strictness::permissive}) {
      auto l = read_all(in, mode);
      ASSERT_FALSE(l) << records;
      EXPECT_EQ(l.error().code(), errc::malformed) << records;
    }
  }
}

TEST(TarPax, DuplicateKeysUseTheLastAndAreReported) {
  bytes in = pax(pax_record("path", "first") + pax_record("path", "second"));
  append(in, file_entry("f", ""));
  end_blocks(in);
  auto l = read_all(in);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->entries[0].path(), "second");
  EXPECT_TRUE(has_code(l->findings, tar::code::pax_duplicate_key));
}

TEST(TarPax, SpecialHeadersLargerThanTheLimitAreRefused) {
  hdr h{.name = "PaxHeaders/x", .type = 'x', .size = tar::max_special_size + 1};
  bytes in = header(h);
  in.resize(in.size() + tar::max_special_size + 1024);
  auto l = read_all(in, strictness::permissive);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), errc::limit_exceeded);
}

// ---- the desync class ---------------------------------------------------------

// TARmageddon (CVE-2025-62518): the pax size says 1024, the ustar size 0;
// a reader that skips by the ustar size finds a smuggled header in the data.
bytes desync_archive() {
  bytes inner = file_entry("smuggled", "evil");
  bytes in = pax(pax_record("size", std::to_string(inner.size())));
  hdr h{.name = "innocent", .size = 1};
  append(in, header(h));
  append(in, inner);
  append(in, file_entry("after", "ok"));
  end_blocks(in);
  return in;
}

TEST(TarDesync, PaxAndUstarSizesThatDisagreeAreAnErrorInStrictMode) {
  auto in = desync_archive();
  auto strict = read_all(in);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), errc::malformed);
  auto loose = read_all(in, strictness::permissive);
  ASSERT_TRUE(loose) << loose.error().message();
  // The pax size governs the data and the next header: "smuggled" is data.
  ASSERT_EQ(loose->entries.size(), 2U);
  EXPECT_EQ(loose->entries[0].path(), "innocent");
  EXPECT_EQ(loose->entries[0].size, 1024U);
  EXPECT_EQ(loose->entries[1].path(), "after");
  auto it = std::find_if(loose->findings.begin(), loose->findings.end(),
                         [](const finding& f) { return f.code == tar::code::size_mismatch; });
  ASSERT_NE(it, loose->findings.end());
  EXPECT_EQ(it->claimed, "1");
  EXPECT_EQ(it->computed, "1024");
  EXPECT_TRUE(it->is_error());
}

TEST(TarDesync, AHeaderOnlyTypeWithASizeHasNoData) {
  bytes in = header({.name = "d/", .type = '5', .size = 512});
  append(in, file_entry("next", "x"));
  end_blocks(in);
  EXPECT_FALSE(read_all(in));
  auto l = read_all(in, strictness::permissive);
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->entries.size(), 2U);
  EXPECT_EQ(l->entries[0].size, 0U);
  EXPECT_EQ(l->entries[1].path(), "next");
  EXPECT_TRUE(has_code(l->findings, tar::code::size_ignored));
}

TEST(TarEnd, ALoneZeroBlockWithEntriesAfterItIsRefusedOrReported) {
  bytes in = file_entry("a", "1");
  in.resize(in.size() + tar::block_size);
  append(in, file_entry("hidden", "2"));
  end_blocks(in);
  EXPECT_FALSE(read_all(in));
  auto l = read_all(in, strictness::permissive);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->entries.size(), 1U);
  EXPECT_TRUE(has_code(l->findings, tar::code::lone_zero_block));
  EXPECT_TRUE(has_code(l->findings, tar::code::trailing_data));
}

TEST(TarEnd, DataAfterTheEndIsRefusedOrReportedAndZeroPaddingIsFine) {
  bytes in = file_entry("a", "1");
  end_blocks(in);
  bytes padded = in;
  padded.resize(10240);
  auto ok = read_all(padded);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->findings.empty());
  in.resize(in.size() + 100);
  in.back() = std::byte{1};
  EXPECT_FALSE(read_all(in));
  auto l = read_all(in, strictness::permissive);
  ASSERT_TRUE(l);
  ASSERT_TRUE(has_code(l->findings, tar::code::trailing_data));
}

TEST(TarEnd, MissingEndBlocksAndTruncatedData) {
  bytes in = file_entry("a", "1");
  auto strict = read_all(in);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), errc::truncated);
  auto loose = read_all(in, strictness::permissive);
  ASSERT_TRUE(loose);
  EXPECT_TRUE(has_code(loose->findings, tar::code::missing_end));
  bytes cut = file_entry("a", std::string(1000, 'x'));
  cut.resize(700);
  for (auto mode : {strictness::strict, strictness::permissive}) {
    auto l = read_all(cut, mode);
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().code(), errc::truncated);
  }
  // Cut in the padding of a GNU long name that follows an entry: the message
  // must not name the entry before it (found by tar_fuzzer).
  bytes pad = file_entry("first", "1");
  append(pad, header({.name = "././@LongLink", .type = 'L', .size = 10, .kind = hdr::magic::gnu}));
  append_data(pad, std::string(9, 'n') + std::string(1, '\0'));
  pad.resize(pad.size() - 100);
  auto cut_pad = read_all(pad, strictness::permissive);
  ASSERT_FALSE(cut_pad);
  EXPECT_EQ(cut_pad.error().code(), errc::truncated);
  EXPECT_EQ(cut_pad.error().context().find("first"), std::string::npos);
  bytes one = file_entry("a", "1");
  one.resize(one.size() + tar::block_size);
  auto lone = read_all(one);
  ASSERT_TRUE(lone) << lone.error().message();
  EXPECT_TRUE(has_code(lone->findings, tar::code::lone_zero_block));
}

// ---- headers ------------------------------------------------------------------

TEST(TarHeader, ChecksumsSignedAndUnsigned) {
  // A name with bytes >= 0x80 makes the two sums differ.
  hdr h{.name = "\xc3\xa9t\xc3\xa9", .signed_checksum = true};
  bytes in = file_entry(h.name, "", h);
  end_blocks(in);
  auto l = read_all(in);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_TRUE(has_code(l->findings, tar::code::signed_checksum));
  in[0] = std::byte{'X'};
  auto bad = read_all(in, strictness::permissive);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), errc::checksum_mismatch);
}

TEST(TarHeader, Base256NumbersReadAsPythonReadsThem) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  hdr h{.mtime = -86400, .kind = hdr::magic::gnu, .base256_size = true, .base256_mtime = true};
  bytes in = file_entry("neg", "12345", h);
  end_blocks(in);
  t::write_file(dir / "a.tar", in);
  auto l = read_all(in);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(our_listing(*l), python_listing(dir / "a.tar"));
  EXPECT_EQ(l->entries[0].mtime, -86400);
  EXPECT_EQ(l->data[0], "12345");
}

TEST(TarHeader, GnuLongNamesAndPrefixes) {
  const std::string long_name(300, 'n');
  bytes in = header({.name = "././@LongLink",
                     .type = 'L',
                     .size = long_name.size() + 1,
                     .kind = hdr::magic::gnu});
  append_data(in, long_name + std::string(1, '\0'));
  append(in, file_entry("cut", "x", {.kind = hdr::magic::gnu}));
  append(in, file_entry("name", "y", {.prefix = "the/prefix"}));
  end_blocks(in);
  auto l = read_all(in);
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->entries.size(), 2U);
  EXPECT_EQ(l->entries[0].path(), long_name);
  EXPECT_EQ(l->entries[0].offset, 0U);
  EXPECT_EQ(l->entries[1].path(), "the/prefix/name");
}

TEST(TarHeader, AbsoluteAndDotDotNamesAreReported) {
  bytes in = file_entry("/etc/passwd", "x");
  append(in, file_entry("a/../../b", "y"));
  append(in, header({.name = "l", .type = '1', .link = "../x"}));
  end_blocks(in);
  auto l = read_all(in);
  ASSERT_TRUE(l);
  EXPECT_EQ(std::count_if(l->findings.begin(), l->findings.end(),
                          [](const finding& f) { return f.code == tar::code::dotdot_path; }),
            2);
  auto abs = std::find_if(l->findings.begin(), l->findings.end(),
                          [](const finding& f) { return f.code == tar::code::absolute_path; });
  ASSERT_NE(abs, l->findings.end());
  EXPECT_EQ(abs->subject, "/etc/passwd");
}

TEST(TarHeader, GarbageIsNotATarHeader) {
  bytes in(1024, std::byte{'A'});
  auto l = read_all(in, strictness::permissive);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), errc::malformed); // the checksum field is no number
}

} // namespace
