// cpio: the pull reader and the push parser.
//
// The differential tests archive a real tree with GNU cpio and bsdcpio in
// every format they write and compare what we read with `cpio -t`,
// `cpio -tvn` and the source files. The adversarial tests build archives
// field by field; each expected behaviour comes from the initramfs unpacker
// rules in formats.md §1.2 (init/initramfs.c), the format table in §1.1, or
// what GNU cpio does with the same bytes.
#include <ukikit/cpio.hpp>
#include <ukikit/cpio_writer.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>

namespace {

namespace cpio = ukikit::cpio;
namespace fs = std::filesystem;
using ukikit::byte_span;
using ukikit::errc;
using ukikit::result;
using ukikit::success;
using ukikit::test::run;
using ukikit::test::sh_quote;
using ukikit::test::temp_dir;
using bytes = std::vector<std::byte>;

const cpio::options strict{};
const cpio::options kernel = [] {
  cpio::options o;
  o.mode = cpio::strictness::kernel;
  return o;
}();

std::string to_string(byte_span b) { return std::string(ukikit::as_chars(b)); }

// ---- what a reading produced, copied out of the input ------------------------

struct got_entry {
  std::string name;
  cpio::format format = cpio::format::newc;
  std::uint64_t offset = 0, ino = 0, mode = 0, uid = 0, gid = 0, nlink = 0, mtime = 0;
  std::uint64_t filesize = 0, check = 0, namesize = 0;
  std::string data;
  std::string link_target;
  std::string kernel_skip;
  std::string name_start;
  bool operator==(const got_entry&) const = default;
};

got_entry copy(const cpio::entry& e, std::string data) {
  return {std::string(e.name),
          e.format,
          e.offset,
          e.ino,
          e.mode,
          e.uid,
          e.gid,
          e.nlink,
          e.mtime,
          e.filesize,
          e.check,
          e.namesize,
          std::move(data),
          std::string(e.link_target),
          std::string(e.kernel_skip),
          std::string(e.name_start)};
}

std::ostream& operator<<(std::ostream& os, const got_entry& e) {
  return os << '"' << e.name << "\" @" << e.offset << " mode " << std::oct << e.mode << std::dec
            << " size " << e.filesize << " data " << e.data.size() << " skip \"" << e.kernel_skip
            << '"';
}

struct reading {
  std::vector<got_entry> entries;
  std::optional<ukikit::error> err;
  std::vector<ukikit::finding> notices;
  bool ok() const { return !err; }
  std::string error_text() const { return err ? err->message() : "(no error)"; }
  // The finding with this code, or null. Every finding of the parser is a note.
  const ukikit::finding* noticed(std::string_view code) const {
    auto it = std::find_if(notices.begin(), notices.end(),
                           [&](const ukikit::finding& n) { return n.code == code; });
    if (it == notices.end()) return nullptr;
    EXPECT_EQ(it->level, ukikit::severity::note) << it->text();
    return &*it;
  }
};

// Everything cpio::reader gives for one span.
reading read_all(byte_span in, cpio::options opts = strict) {
  reading out;
  cpio::reader r(in, opts);
  for (;;) {
    auto e = r.next();
    if (!e) {
      out.err = e.error();
      break;
    }
    if (!*e) break;
    const cpio::entry& x = **e;
    // The views point into the input.
    const char* begin = ukikit::as_chars(in).data();
    EXPECT_TRUE(x.name.empty() ||
                (x.name.data() >= begin && x.name.data() + x.name.size() <= begin + in.size()));
    out.entries.push_back(copy(x, to_string(x.data)));
  }
  out.notices = r.findings().kept();
  return out;
}
reading read_all(const std::string& in, cpio::options opts = strict) {
  return read_all(ukikit::as_bytes(in), opts);
}

// The push parser's handler: copies each entry with its data pieces joined.
struct collector {
  std::vector<got_entry> entries;
  std::string body;
  std::string begun;
  result<void> begin(const cpio::entry& e) {
    body.clear();
    begun = std::string(e.name);
    return success();
  }
  result<void> data(const cpio::entry& e, byte_span piece) {
    if (std::string(e.name) != begun) ADD_FAILURE() << "data for another entry";
    body += ukikit::as_chars(piece);
    return success();
  }
  result<bool> end(const cpio::entry& e) {
    entries.push_back(copy(e, body));
    return true;
  }
};

struct pushed {
  reading r;
  bool at_boundary = false;
  bool foreign = false; // stopped at a byte that does not start a header
  std::uint64_t offset = 0;
  std::uint64_t trailers = 0;
};

// Feeds `in` to a parser in chunks of `chunk` bytes (the whole input at once
// when 0) and runs to the end, a foreign byte or an error.
pushed push_all(byte_span in, std::size_t chunk, cpio::options opts = strict) {
  pushed out;
  cpio::parser p(opts);
  collector c;
  std::size_t pos = 0;
  do {
    const std::size_t n = chunk == 0 ? in.size() - pos : std::min(chunk, in.size() - pos);
    auto f = p.feed(in.subspan(pos, n), c);
    if (!f) {
      out.r.err = f.error();
      break;
    }
    pos += f->used;
    if (f->stop == cpio::stop::foreign) {
      out.foreign = true;
      break;
    }
    EXPECT_EQ(f->stop, cpio::stop::need_input);
    EXPECT_EQ(f->used, n);
  } while (pos < in.size());
  out.r.entries = std::move(c.entries);
  out.r.notices = p.findings().kept();
  out.at_boundary = p.at_boundary();
  out.offset = p.offset();
  out.trailers = p.trailers();
  return out;
}
pushed push_all(const std::string& in, std::size_t chunk, cpio::options opts = strict) {
  return push_all(ukikit::as_bytes(in), chunk, opts);
}

// The entries the parser and the reader report must not depend on how the
// input is cut: each chunking gives what one span gives, errors and notices
// included.
void expect_same_in_any_chunking(const std::string& in, cpio::options opts) {
  const pushed whole = push_all(in, 0, opts);
  for (std::size_t chunk : {1, 2, 3, 7, 110, 4096}) {
    SCOPED_TRACE("chunks of " + std::to_string(chunk));
    const pushed cut = push_all(in, chunk, opts);
    EXPECT_EQ(cut.r.entries, whole.r.entries);
    ASSERT_EQ(cut.r.ok(), whole.r.ok()) << cut.r.error_text() << " vs " << whole.r.error_text();
    if (!whole.r.ok()) { // the quoted bytes of a bad magic may be fewer when cut
      EXPECT_EQ(cut.r.err->code(), whole.r.err->code());
      EXPECT_EQ(cut.r.err->offset(), whole.r.err->offset());
      continue;
    }
    EXPECT_EQ(cut.foreign, whole.foreign);
    EXPECT_EQ(cut.offset, whole.offset);
    EXPECT_EQ(cut.at_boundary, whole.at_boundary);
    ASSERT_EQ(cut.r.notices.size(), whole.r.notices.size());
    for (std::size_t i = 0; i < cut.r.notices.size(); ++i) {
      EXPECT_EQ(cut.r.notices[i].code, whole.r.notices[i].code);
      EXPECT_EQ(cut.r.notices[i].text(), whole.r.notices[i].text());
      EXPECT_EQ(cut.r.notices[i].subject, whole.r.notices[i].subject);
    }
  }
}

// ---- archives built field by field ---------------------------------------------

std::string hex8(std::uint64_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08llX", static_cast<unsigned long long>(v));
  return buf;
}

// Indexes of the newc fields after the magic (formats.md §1.1).
enum newc_index : std::size_t {
  f_ino,
  f_mode,
  f_uid,
  f_gid,
  f_nlink,
  f_mtime,
  f_filesize,
  f_devmajor,
  f_devminor,
  f_rdevmajor,
  f_rdevminor,
  f_namesize,
  f_check
};

// Where a newc field starts inside its header.
constexpr std::size_t field_offset(newc_index i) { return 6 + i * 8; }

// One newc or crc entry: the 110-byte header (magic and 13 fields of 8 hex
// digits), the name with its NUL, zero padding to 4, the data, zero padding
// to 4. Unset sizes and sums are computed; `raw` overrides a field's text
// and `name_field` the name bytes (then namesize must be given or is their
// length). Assumes the entry starts at a multiple of 4.
class newc {
public:
  newc& magic(std::string v) { return set(magic_, std::move(v)); }
  newc& ino(std::uint32_t v) { return set(ino_, v); }
  newc& mode(std::uint32_t v) { return set(mode_, v); }
  newc& name(std::string v) { return set(name_, std::move(v)); }
  newc& data(std::string v) { return set(data_, std::move(v)); }
  newc& namesize(std::uint64_t v) { return set(namesize_, v); }
  newc& check(std::uint64_t v) { return set(check_, v); }
  // The bytes of the name field instead of name + NUL.
  newc& name_field(std::string v) { return set(name_field_, std::move(v)); }
  // A field's 8 characters as written.
  newc& raw(newc_index i, std::string text) {
    raw_.emplace_back(i, std::move(text));
    return *this;
  }
  // The bytes after the name, or after the data, instead of zero padding.
  newc& name_pad(std::string v) { return set(name_pad_, std::move(v)); }
  newc& data_pad(std::string v) { return set(data_pad_, std::move(v)); }

  std::string bytes() const {
    const std::string nf = name_field_ ? *name_field_ : name_ + '\0';
    std::uint32_t sum = 0;
    for (char c : data_) sum += static_cast<unsigned char>(c);
    const std::uint64_t v[] = {
        ino_,                                           // c_ino
        mode_,                                          // c_mode
        0,                                              // c_uid
        0,                                              // c_gid
        1,                                              // c_nlink
        0,                                              // c_mtime
        data_.size(),                                   // c_filesize
        3,                                              // c_devmajor
        1,                                              // c_devminor
        0,                                              // c_rdevmajor
        0,                                              // c_rdevminor
        namesize_.value_or(nf.size()),                  // c_namesize
        check_.value_or(magic_ == "070702" ? sum : 0u), // c_check
    };
    std::string out = magic_;
    for (std::uint64_t x : v) out += hex8(x);
    for (const auto& [i, text] : raw_) out.replace(field_offset(i), 8, text);
    out += nf;
    out += name_pad_ ? *name_pad_ : std::string((4 - out.size() % 4) % 4, '\0');
    out += data_;
    out += data_pad_ ? *data_pad_ : std::string((4 - data_.size() % 4) % 4, '\0');
    return out;
  }

private:
  template <class T, class V> newc& set(T& field, V&& v) {
    field = std::forward<V>(v);
    return *this;
  }
  std::string magic_ = "070701";
  std::uint32_t ino_ = 721;
  std::uint32_t mode_ = 0100644;
  std::string name_ = "file";
  std::string data_;
  std::optional<std::uint64_t> namesize_;
  std::optional<std::uint64_t> check_; // crc: by default the byte sum of the data
  std::optional<std::string> name_field_;
  std::vector<std::pair<newc_index, std::string>> raw_;
  std::optional<std::string> name_pad_;
  std::optional<std::string> data_pad_;
};

std::string trailer(std::string magic = "070701") {
  return newc().magic(std::move(magic)).ino(0).mode(0).name("TRAILER!!!").bytes();
}

// An odc header (formats.md §1.1: octal fields of 6 and 11 characters, no
// padding) with its name and data.
std::string odc(std::string_view name, std::string_view data, std::uint32_t mode = 0100644) {
  auto oct = [](std::uint64_t v, int width) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%0*llo", width, static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  std::string out = "070707";
  out += oct(3 << 8 | 1, 6) + oct(721, 6) + oct(mode, 6) + oct(0, 6) + oct(0, 6) + oct(1, 6) +
         oct(0, 6) + oct(0, 11) + oct(name.size() + 1, 6) + oct(data.size(), 11);
  out += name;
  out += '\0';
  out += data;
  return out;
}

// ---- the real tools ------------------------------------------------------------------

// `cpio -tvn` line: mode string, links, uid, gid, size, date (3 fields), name.
struct listed {
  std::string mode;
  std::uint64_t nlink = 0, uid = 0, gid = 0, size = 0;
  std::string name, target;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<listed> parse_tvn(const std::string& text) {
  std::vector<listed> out;
  for (const std::string& line : lines(text)) {
    std::istringstream in(line);
    listed l;
    std::string month, day, year_or_time;
    in >> l.mode >> l.nlink >> l.uid >> l.gid >> l.size >> month >> day >> year_or_time;
    in.get(); // the one space before the name
    std::getline(in, l.name);
    if (l.mode.starts_with('l')) {
      const auto arrow = l.name.find(" -> ");
      if (arrow != std::string::npos) {
        l.target = l.name.substr(arrow + 4);
        l.name.resize(arrow);
      }
    }
    out.push_back(l);
  }
  return out;
}

// The mode as `ls -l` (and `cpio -tv`) shows it.
std::string mode_string(std::uint64_t mode) {
  std::string s = "----------";
  s[0] = cpio::type_letter(cpio::type_of(mode));
  constexpr std::string_view rwx = "rwxrwxrwx";
  for (std::size_t i = 0; i < 9; ++i)
    if (mode & (0400u >> i)) s[1 + i] = rwx[i];
  if (mode & 04000) s[3] = s[3] == 'x' ? 's' : 'S';
  if (mode & 02000) s[6] = s[6] == 'x' ? 's' : 'S';
  if (mode & 01000) s[9] = s[9] == 'x' ? 't' : 'T';
  return s;
}

// A tree with what cpio archives hold: regular files (empty, small, about
// 1 MiB with an odd size), nested directories, a symlink, a hardlink pair, a
// fifo, and names with spaces. Every mtime is 0.
class tree {
public:
  tree() {
    const fs::path s = src();
    fs::create_directories(s / "dir a" / "sub dir");
    ukikit::test::write_file(s / "big", ukikit::test::sample_bytes((1 << 20) + 3));
    ukikit::test::write_file(s / "empty", std::string_view());
    ukikit::test::write_file(s / "dir a" / "file one", std::string_view("hello"));
    ukikit::test::write_file(s / "dir a" / "sub dir" / "deep", std::string_view("deep\n"));
    ukikit::test::write_file(s / "hard 1", std::string_view("linked data\n"));
    fs::create_hard_link(s / "hard 1", s / "hard 2");
    fs::create_symlink("dir a/file one", s / "link");
    if (mkfifo((s / "fifo").c_str(), 0644) != 0) throw std::runtime_error("mkfifo failed");
    if (run("cd " + sh_quote(s.string()) + " && find . -exec touch -h -d @0 {} +").status != 0)
      throw std::runtime_error("touch failed");
  }
  fs::path src() const { return dir_ / "src"; }
  fs::path path(std::string_view name) const { return dir_ / name; }

  // Runs `archiver` (reading names from stdin, writing the archive to
  // stdout) in the tree on its sorted file list; returns the archive.
  bytes archive(const std::string& archiver, bool with_fifo = true) const {
    const fs::path out = dir_ / "out.cpio";
    std::string cmd = "cd " + sh_quote(src().string()) + " && find . | LC_ALL=C sort";
    if (!with_fifo) cmd += " | grep -v '^./fifo$'";
    cmd += " | " + archiver + " >" + sh_quote(out.string()) + " 2>/dev/null";
    if (run(cmd).status != 0) throw std::runtime_error("archiver failed: " + cmd);
    return ukikit::test::read_file(out);
  }

private:
  temp_dir dir_;
};

std::string gnu_cpio(const std::string& args, byte_span archive) {
  temp_dir d;
  ukikit::test::write_file(d / "a.cpio", archive);
  return run("cpio " + args + " <" + sh_quote((d / "a.cpio").string()) + " 2>/dev/null").out;
}

// ---- differential tests ------------------------------------------------------------

struct archiver {
  const char* label;
  const char* tool;
  const char* command;
  cpio::format format;
  bool fifo; // whether the format can hold the fifo
};

// How GoogleTest (and so CTest's test list) shows a parameter: its label.
[[maybe_unused]] void PrintTo(const archiver& a, std::ostream* os) { *os << a.label; }

constexpr cpio::format native_bin =
    std::endian::native == std::endian::little ? cpio::format::bin_le : cpio::format::bin_be;

const archiver archivers[] = {
    {"gnu_newc", "cpio", "cpio -o -H newc --reproducible", cpio::format::newc, true},
    {"gnu_crc", "cpio", "cpio -o -H crc --reproducible", cpio::format::crc, true},
    {"gnu_odc", "cpio", "cpio -o -H odc --reproducible", cpio::format::odc, true},
    {"gnu_bin", "cpio", "cpio -o -H bin --reproducible", native_bin, true},
    {"bsdcpio_newc", "bsdcpio", "bsdcpio -o --format newc", cpio::format::newc, true},
    {"bsdcpio_odc", "bsdcpio", "bsdcpio -o --format odc", cpio::format::odc, true},
    // bsdcpio: "sockets and fifos cannot be represented in the binary cpio formats"
    {"bsdcpio_bin", "bsdcpio", "bsdcpio -o --format bin", cpio::format::bin_le, false},
};

class cpio_differential : public testing::TestWithParam<archiver> {
protected:
  static void SetUpTestSuite() { tree_ = new tree(); }
  static void TearDownTestSuite() {
    delete tree_;
    tree_ = nullptr;
  }
  static tree* tree_;
};
tree* cpio_differential::tree_ = nullptr;

// The path in the source tree of an archived name: GNU cpio drops the
// leading "./", bsdcpio keeps it.
fs::path source_of(const fs::path& src, const std::string& name) {
  return name == "." ? src : src / name;
}

TEST_P(cpio_differential, strict_reader_lists_what_cpio_tvn_lists_with_the_source_data) {
  const archiver& a = GetParam();
  UKIKIT_NEED_TOOL(a.tool);
  UKIKIT_NEED_TOOL("cpio");
  const bytes archive = tree_->archive(a.command, a.fifo);
  const reading got = read_all(archive, strict);
  ASSERT_TRUE(got.ok()) << got.error_text();

  const std::vector<std::string> names = lines(gnu_cpio("-t", archive));
  std::vector<std::string> ours;
  for (const auto& e : got.entries) ours.push_back(e.name);
  EXPECT_EQ(ours, names);
  EXPECT_EQ(ours.size(), a.fifo ? 11u : 10u);

  const std::vector<listed> tv = parse_tvn(gnu_cpio("-tvn", archive));
  ASSERT_EQ(tv.size(), got.entries.size());
  for (std::size_t i = 0; i < tv.size(); ++i) {
    const got_entry& e = got.entries[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(e.format, a.format);
    EXPECT_EQ(e.name, tv[i].name);
    EXPECT_EQ(mode_string(e.mode), tv[i].mode);
    EXPECT_EQ(e.nlink, tv[i].nlink);
    EXPECT_EQ(e.uid, tv[i].uid);
    EXPECT_EQ(e.gid, tv[i].gid);
    EXPECT_EQ(e.filesize, tv[i].size);
    EXPECT_EQ(e.link_target, tv[i].target);
    EXPECT_TRUE(e.kernel_skip.empty());

    const fs::path p = source_of(tree_->src(), e.name);
    struct stat st {};
    ASSERT_EQ(lstat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(e.mode, st.st_mode);
    EXPECT_EQ(e.mtime, 0u);
    switch (cpio::type_of(e.mode)) {
    case cpio::file_type::regular:
      if (e.filesize == 0 && st.st_size != 0) {
        // Hardlink data sits on one link only (formats.md §1.1).
        EXPECT_GE(e.nlink, 2u);
      } else {
        EXPECT_EQ(e.data, to_string(ukikit::test::read_file(p)));
      }
      break;
    case cpio::file_type::symlink:
      EXPECT_EQ(e.link_target, fs::read_symlink(p).string());
      EXPECT_EQ(e.data, e.link_target);
      break;
    default: EXPECT_EQ(e.filesize, 0u);
    }
  }
}

TEST_P(cpio_differential, push_parser_in_chunks_gives_the_readers_entries_and_data) {
  const archiver& a = GetParam();
  UKIKIT_NEED_TOOL(a.tool);
  const bytes archive = tree_->archive(a.command, a.fifo);
  const reading want = read_all(archive, strict);
  ASSERT_TRUE(want.ok()) << want.error_text();
  for (std::size_t chunk : {0, 1, 7, 4096}) {
    SCOPED_TRACE("chunks of " + std::to_string(chunk));
    const pushed got = push_all(archive, chunk, strict);
    ASSERT_TRUE(got.r.ok()) << got.r.error_text();
    EXPECT_FALSE(got.foreign);
    EXPECT_TRUE(got.at_boundary);
    EXPECT_EQ(got.offset, archive.size());
    EXPECT_EQ(got.trailers, 1u);
    ASSERT_EQ(got.r.entries.size(), want.entries.size() + 1);
    EXPECT_EQ(got.r.entries.back().name, "TRAILER!!!");
    for (std::size_t i = 0; i < want.entries.size(); ++i) {
      EXPECT_EQ(got.r.entries[i], want.entries[i]);
    }
  }
}

TEST_P(cpio_differential, kernel_mode_reads_the_archive_without_notices) {
  const archiver& a = GetParam();
  UKIKIT_NEED_TOOL(a.tool);
  const bytes archive = tree_->archive(a.command, a.fifo);
  const reading s = read_all(archive, strict);
  const reading k = read_all(archive, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  EXPECT_EQ(k.entries, s.entries);
  EXPECT_TRUE(k.notices.empty()) << k.notices.front().text();
}

INSTANTIATE_TEST_SUITE_P(real_tools, cpio_differential, testing::ValuesIn(archivers),
                         [](const testing::TestParamInfo<archiver>& i) { return i.param.label; });

// Swaps the bytes of each 16-bit word of every old binary header (name and
// data unchanged), which turns little-endian into big-endian (formats.md
// §1.1: 32-bit values are most significant word first in both orders).
bytes swap_binary_headers(const bytes& archive) {
  const pushed p = push_all(archive, 0, strict);
  EXPECT_TRUE(p.r.ok()) << p.r.error_text();
  bytes out = archive;
  for (const got_entry& e : p.r.entries) {
    for (std::size_t i = 0; i < 26; i += 2) std::swap(out[e.offset + i], out[e.offset + i + 1]);
  }
  return out;
}

TEST(cpio_bin, big_endian_archive_reads_like_the_little_endian_one) {
  UKIKIT_NEED_TOOL("cpio");
  tree t;
  const bytes le = t.archive("cpio -o -H bin --reproducible");
  const reading want = read_all(le, strict);
  ASSERT_TRUE(want.ok()) << want.error_text();
  ASSERT_EQ(want.entries.front().format, native_bin);

  const bytes be = swap_binary_headers(le);
  ASSERT_NE(be, le);
  const reading got = read_all(be, strict);
  ASSERT_TRUE(got.ok()) << got.error_text();
  ASSERT_EQ(got.entries.size(), want.entries.size());
  for (std::size_t i = 0; i < got.entries.size(); ++i) {
    got_entry w = want.entries[i];
    w.format = native_bin == cpio::format::bin_le ? cpio::format::bin_be : cpio::format::bin_le;
    EXPECT_EQ(got.entries[i], w);
  }
  // GNU cpio reads byte-swapped binary archives too, and lists the same.
  EXPECT_EQ(lines(gnu_cpio("-t", be)), lines(gnu_cpio("-t", le)));
  std::vector<std::string> names;
  for (const auto& e : got.entries) names.push_back(e.name);
  EXPECT_EQ(names, lines(gnu_cpio("-t", be)));
  for (std::size_t chunk : {1, 7, 4096}) {
    const pushed p = push_all(be, chunk, strict);
    ASSERT_TRUE(p.r.ok()) << p.r.error_text();
    ASSERT_EQ(p.r.entries.size(), got.entries.size() + 1);
    for (std::size_t i = 0; i < got.entries.size(); ++i) EXPECT_EQ(p.r.entries[i], got.entries[i]);
  }
}

// ---- crc sums --------------------------------------------------------------------------

TEST(cpio_crc, wrong_sum_is_a_checksum_mismatch_in_both_modes) {
  const std::string a = newc().magic("070702").data("hello").check(533).bytes() + trailer("070702");
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::checksum_mismatch);
    EXPECT_NE(r.err->context().find("bad data checksum for \"file\" (header 0x215, data 0x214)"),
              std::string::npos)
        << r.error_text();
    EXPECT_EQ(r.err->offset(), 0u);
  }
  // GNU cpio agrees that the sum is wrong.
  UKIKIT_NEED_TOOL("cpio");
  temp_dir d;
  ukikit::test::write_file(d / "a.cpio", a);
  const auto v =
      run("cd " + sh_quote(d.path().string()) + " && cpio -i --only-verify-crc <a.cpio 2>&1");
  EXPECT_NE(v.out.find("checksum error (0x214, should be 0x215)"), std::string::npos) << v.out;
}

TEST(cpio_crc, right_sum_is_accepted_and_not_needed_on_a_symlink) {
  const std::string a =
      newc().magic("070702").data("hello").bytes() +
      newc().magic("070702").mode(0120777).name("l").data("file").check(0).bytes() +
      trailer("070702");
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    ASSERT_EQ(r.entries.size(), 2u);
    EXPECT_EQ(r.entries[0].check, 0x214u);
    EXPECT_EQ(r.entries[1].link_target, "file");
  }
}

// 0x01010102 bytes of 0xff sum to 0xff * 0x01010102 = 0x1000000fe: more than
// 32 bits. The kernel's io_csum and GNU cpio's sum are u32 (formats.md §1.1:
// "mod 2^32").
constexpr std::size_t overflow_size = 0x01010102;

TEST(cpio_crc, sum_above_32_bits_is_compared_mod_2_32) {
  const std::string data(overflow_size, '\xff');
  const std::string a = newc().magic("070702").data(data).check(0xfe).bytes() + trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].check, 0xfeu);
    EXPECT_EQ(r.entries[0].data.size(), overflow_size);
  }
  const std::string wrong = newc().magic("070702").data(data).check(0).bytes() + trailer();
  const reading w = read_all(wrong, strict);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.err->code(), errc::checksum_mismatch);
}

TEST(cpio_crc, gnu_cpio_sum_above_32_bits_reads_in_every_chunking) {
  UKIKIT_NEED_TOOL("cpio");
  temp_dir d;
  ukikit::test::write_file(d / "ff", std::string(overflow_size, '\xff'));
  const auto made = run("cd " + sh_quote(d.path().string()) +
                        " && echo ff | cpio -o -H crc --reproducible >a.cpio 2>/dev/null");
  ASSERT_EQ(made.status, 0);
  const bytes a = ukikit::test::read_file(d / "a.cpio");
  const reading r = read_all(a, strict);
  ASSERT_TRUE(r.ok()) << r.error_text();
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].check, 0xfeu);
  const pushed p = push_all(a, 4093, strict);
  EXPECT_TRUE(p.r.ok()) << p.r.error_text();
}

// ---- header fields (formats.md §1.2 rule 4) ----------------------------------------

std::string with_0x_filesize() {
  return newc().data("hello").raw(f_filesize, "0x000005").bytes() + trailer();
}

TEST(cpio_fields, strict_mode_rejects_a_0x_prefixed_field) {
  const reading r = read_all(with_0x_filesize(), strict);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err->code(), errc::malformed);
  EXPECT_EQ(r.err->context(), "header field \"0x000005\" is not 8 hex digits");
  EXPECT_EQ(r.err->offset(), field_offset(f_filesize));
}

TEST(cpio_fields, kernel_mode_reads_a_0x_prefixed_field_as_hex_with_a_notice) {
  const reading r = read_all(with_0x_filesize(), kernel);
  ASSERT_TRUE(r.ok()) << r.error_text();
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].filesize, 5u);
  EXPECT_EQ(r.entries[0].data, "hello");
  ASSERT_EQ(r.notices.size(), 1u);
  EXPECT_EQ(r.notices[0].code, cpio::code::hex_prefix);
  EXPECT_EQ(r.notices[0].level, ukikit::severity::note);
  EXPECT_EQ(r.notices[0].offset, field_offset(f_filesize));
}

TEST(cpio_fields, kernel_mode_reads_hex_up_to_the_first_bad_character) {
  // simple_strtoul stops at the first non-hex character and does not fail.
  const std::string a = newc().raw(f_ino, "00002zz1").bytes() + trailer();
  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  EXPECT_EQ(k.entries.at(0).ino, 2u);
  const ukikit::finding* n = k.noticed(cpio::code::non_hex_digit);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->offset, field_offset(f_ino));
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->code(), errc::malformed);
  EXPECT_EQ(s.err->offset(), field_offset(f_ino));
}

TEST(cpio_fields, uppercase_and_lowercase_hex_digits_are_both_accepted) {
  // GNU cpio writes uppercase (see the differential tests); "%08x" writers
  // exist too, and simple_strtoul folds case.
  const std::string a = newc().raw(f_mode, "000081a4").bytes() + trailer();
  const reading r = read_all(a, strict);
  ASSERT_TRUE(r.ok()) << r.error_text();
  EXPECT_EQ(r.entries.at(0).mode, 0100644u);
  EXPECT_TRUE(r.notices.empty());
}

TEST(cpio_fields, a_nonzero_check_field_of_newc_is_a_note_in_both_modes) {
  // newc has no checksum; the kernel ignores the field. Valid, but unusual.
  const std::string a = newc().data("x").check(7).bytes() + trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    const ukikit::finding* n = r.noticed(cpio::code::newc_check);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->offset, field_offset(f_check));
  }
}

TEST(cpio_fields, permissive_mode_reads_as_kernel_mode) {
  // ukikit::strictness::permissive has no cpio reading of its own: the
  // kernel's is the one clear meaning.
  cpio::options permissive;
  permissive.mode = cpio::strictness::permissive;
  const reading p = read_all(with_0x_filesize(), permissive);
  const reading k = read_all(with_0x_filesize(), kernel);
  ASSERT_TRUE(p.ok()) << p.error_text();
  EXPECT_EQ(p.entries, k.entries);
  ASSERT_EQ(p.notices.size(), k.notices.size());
  EXPECT_EQ(p.notices.at(0).code, cpio::code::hex_prefix);
}

TEST(cpio_fields, printable_escapes_quotes_backslashes_and_control_bytes) {
  EXPECT_EQ(cpio::printable("bin/sh"), "bin/sh");
  EXPECT_EQ(cpio::printable(std::string("a\"\\\x1b\x00\xff", 6)), "a\\x22\\x5c\\x1b\\x00\\xff");
}

TEST(cpio_fields, detect_names_the_format_of_a_header_at_offset_0) {
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("070701"))), cpio::format::newc);
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("070702"))), cpio::format::crc);
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("070707"))), cpio::format::odc);
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("\xc7\x71"))), cpio::format::bin_le);
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("\x71\xc7"))), cpio::format::bin_be);
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("07070"))), std::nullopt);
  EXPECT_EQ(cpio::detect(ukikit::as_bytes(std::string_view("070708"))), std::nullopt);
  EXPECT_EQ(cpio::detect({}), std::nullopt);
}

// ---- the writer's plan -------------------------------------------------------------

// The writer plans each entry (writer::entry_end) and checks what it wrote
// against the plan afterwards, as systemd's cpio.c asserts. Through its API
// the check cannot fail (every byte goes through one counting emit(), and a
// sink takes a piece whole or fails); the plan itself is what callers use,
// so it is checked here against the bytes, with gen_init_cpio -a alignment
// and block padding.
TEST(cpio_writer, writes_exactly_the_bytes_entry_end_plans) {
  std::string out;
  auto sink = [&](byte_span b) -> result<void> {
    out += ukikit::as_chars(b);
    return success();
  };
  cpio::write_options o;
  o.data_align = 16;
  o.block_size = 512;
  auto w = cpio::writer::create(o, sink);
  ASSERT_TRUE(w) << w.error().message();
  struct planned_entry {
    std::string name;
    std::uint64_t mode;
    std::string data;
  };
  const planned_entry entries[] = {{"dir", 040755, ""},
                                   {"dir/file", 0100644, "hello"},
                                   {"link", 0120777, "dir/file"},
                                   {"big", 0100600, std::string(1000, 'b')}};
  std::uint64_t planned = 0;
  for (const auto& e : entries) {
    SCOPED_TRACE(e.name);
    planned = cpio::writer::entry_end(planned, e.name.size(), e.data.size(), e.mode, o);
    cpio::entry_fields f;
    f.mode = e.mode;
    ASSERT_TRUE(w->add(e.name, f, ukikit::as_bytes(e.data)));
    EXPECT_EQ(w->written(), planned);
  }
  ASSERT_TRUE(w->finish());
  EXPECT_EQ(w->written(), cpio::writer::archive_end(planned, o));
  EXPECT_EQ(out.size(), w->written());
  EXPECT_EQ(out.size() % 512, 0u);
  const reading r = read_all(out, strict);
  ASSERT_TRUE(r.ok()) << r.error_text();
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.entries[3].data, entries[3].data);
}

// ---- names (formats.md §1.2 rules 6 and 7) ----------------------------------------

const std::string next_entry = newc().name("next").data("after").bytes();

TEST(cpio_names, namesize_0_is_an_error_in_strict_mode) {
  const std::string a = newc().data("abc").namesize(0).name_field("").bytes() + trailer();
  const reading r = read_all(a, strict);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err->code(), errc::malformed);
  EXPECT_EQ(r.err->context(), "cpio entry name size 0x0 is 0");
  EXPECT_EQ(r.err->offset(), 0u);
}

TEST(cpio_names, namesize_0_is_skipped_with_its_data_in_kernel_mode) {
  // do_header: name_len 0 -> SkipIt to ALIGN4(this_header + N_ALIGN(0) + body_len).
  const std::string a =
      newc().data("abcdefg").namesize(0).name_field("").bytes() + next_entry + trailer();
  const reading r = read_all(a, kernel);
  ASSERT_TRUE(r.ok()) << r.error_text();
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].name, "");
  EXPECT_EQ(r.entries[0].kernel_skip, "name size 0");
  EXPECT_EQ(r.entries[0].data, "");
  EXPECT_EQ(r.entries[1].name, "next");
  EXPECT_EQ(r.entries[1].data, "after");
  EXPECT_EQ(r.entries[0].name_start, "");
  const ukikit::finding* n = r.noticed(cpio::code::entry_skipped);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->offset, 0u);
  EXPECT_EQ(n->subject, "");
}

TEST(cpio_names, namesize_1_is_the_empty_name) {
  // Only 0 and > PATH_MAX are skipped by the kernel; GNU cpio lists it too.
  const std::string a = newc().name("").data("abc").bytes() + trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].namesize, 1u);
    EXPECT_EQ(r.entries[0].name, "");
    EXPECT_EQ(r.entries[0].data, "abc");
    EXPECT_TRUE(r.entries[0].kernel_skip.empty());
  }
  UKIKIT_NEED_TOOL("cpio"); // GNU cpio reads the same
  EXPECT_EQ(lines(gnu_cpio("-t", ukikit::as_bytes(a))).size(), 1u);
}

TEST(cpio_names, namesize_4096_is_read_in_both_modes) {
  const std::string name(4095, 'n');
  const std::string a = newc().name(name).data("abc").bytes() + next_entry + trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    ASSERT_EQ(r.entries.size(), 2u);
    EXPECT_EQ(r.entries[0].namesize, 4096u);
    EXPECT_EQ(r.entries[0].name, name);
    EXPECT_EQ(r.entries[0].data, "abc");
    EXPECT_TRUE(r.notices.empty());
  }
  UKIKIT_NEED_TOOL("cpio"); // GNU cpio reads the same
  EXPECT_EQ(lines(gnu_cpio("-t", ukikit::as_bytes(a))), (std::vector<std::string>{name, "next"}));
}

TEST(cpio_names, namesize_4097_is_an_error_in_strict_mode_and_skipped_in_kernel_mode) {
  const std::string a =
      newc().name(std::string(4096, 'n')).data("abc").bytes() + next_entry + trailer();
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->code(), errc::malformed);
  EXPECT_EQ(s.err->context(), "cpio entry name size 0x1001 is larger than PATH_MAX (4096)");

  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.entries[0].kernel_skip, "name longer than PATH_MAX");
  EXPECT_EQ(k.entries[0].name, "");
  EXPECT_EQ(k.entries[0].data, "");
  EXPECT_EQ(k.entries[1].name, "next");
  EXPECT_EQ(k.entries[1].data, "after");
  const ukikit::finding* n = k.noticed(cpio::code::entry_skipped);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->offset, 0u);
  EXPECT_EQ(n->subject, std::string(cpio::name_start_max, 'n'));
}

TEST(cpio_names, name_above_path_max_is_shown_by_its_first_bytes_not_as_empty) {
  // The kernel skips the name unread; messages and listings still show where
  // it came from: its first bytes (at most name_start_max, escaped) and size.
  std::string name = "\x1b[31m" + std::string(4200, 'n');
  name[100] = 'X'; // past the bytes shown
  const std::string a = newc().name(name).data("abc").bytes() + next_entry + trailer();
  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.entries[0].name, "");
  EXPECT_EQ(k.entries[0].name_start, name.substr(0, cpio::name_start_max));
  EXPECT_EQ(cpio::name_start_max, 64u);
  // ESC and "[31m" are 5 bytes of the 64.
  const std::string quoted =
      "\"\\x1b[31m" + std::string(59, 'n') + "…\" (name size " + ukikit::hex(name.size() + 1) + ")";
  const ukikit::finding* n = k.noticed(cpio::code::entry_skipped);
  ASSERT_NE(n, nullptr) << (k.notices.empty() ? "(no notices)" : k.notices[0].text());
  EXPECT_EQ(n->subject, name.substr(0, cpio::name_start_max)); // raw
  // The message shows the name escaped, by its start and size.
  EXPECT_EQ(n->message, "entry " + quoted + " skipped: name size " + ukikit::hex(name.size() + 1) +
                            " is larger than PATH_MAX (4096)");
  // The same in every chunking: the start of a name may be cut anywhere.
  expect_same_in_any_chunking(a, kernel);
}

TEST(cpio_names, short_name_of_an_entry_skipped_from_its_header_is_shown_whole) {
  const std::string a =
      newc().mode(0120777).name("lnk").data(std::string(4097, 't')).bytes() + trailer();
  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 1u);
  EXPECT_EQ(k.entries[0].name_start, "lnk");
  const ukikit::finding* n = k.noticed(cpio::code::entry_skipped);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->subject, "lnk");
  expect_same_in_any_chunking(a, kernel);
}

TEST(cpio_names, namesize_past_the_end_of_the_input_is_truncated) {
  const std::string a = newc().namesize(200).bytes(); // 116 bytes, no trailer
  ASSERT_LT(a.size(), 110u + 200u);
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::truncated);
    EXPECT_EQ(r.err->context(), "cpio archive ends inside the name of an entry");
    EXPECT_EQ(r.err->offset(), a.size());
  }
  // Kernel mode skips a name above PATH_MAX without reading it, but still
  // needs the bytes.
  const std::string huge = newc().namesize(0xffffffff).bytes();
  const reading k = read_all(huge, kernel);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.err->code(), errc::truncated);
}

TEST(cpio_names, name_without_its_nul_is_malformed_in_both_modes) {
  const std::string a = newc().name_field("abcde").bytes() + trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::malformed);
    EXPECT_EQ(r.err->context(), "malformed archive: cpio name is not NUL-terminated");
    EXPECT_EQ(r.err->offset(), 110u);
  }
}

TEST(cpio_names, nul_inside_the_name_with_bytes_after_it) {
  // The kernel checks only collected[namelen - 1] and then uses the C string:
  // the name is "abc". GNU cpio lists "abc" as well.
  const std::string a =
      newc().data("x").name_field(std::string("abc\0def\0", 8)).bytes() + trailer();
  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 1u);
  EXPECT_EQ(k.entries[0].name, "abc");
  EXPECT_EQ(k.entries[0].namesize, 8u);
  EXPECT_EQ(k.entries[0].data, "x");
  const ukikit::finding* n = k.noticed(cpio::code::name_padding);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->offset, 110u);
  EXPECT_EQ(n->subject, "abc");

  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->code(), errc::malformed);
  EXPECT_EQ(s.err->context(), "non-zero bytes after the name \"abc\"");
  UKIKIT_NEED_TOOL("cpio"); // GNU cpio reads the same
  EXPECT_EQ(lines(gnu_cpio("-t", ukikit::as_bytes(a))), std::vector<std::string>{"abc"});
}

TEST(cpio_names, zero_padding_inside_namesize_is_accepted) {
  // gen_init_cpio -a pads the name field with zeros counted in namesize
  // (formats.md §1.3); GNU cpio and the kernel accept it.
  const std::string a = newc()
                            .data("x")
                            .namesize(16)
                            .name_field(std::string("file\0", 5) + std::string(11, '\0'))
                            .bytes() +
                        trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    EXPECT_EQ(r.entries.at(0).name, "file");
    EXPECT_EQ(r.entries.at(0).data, "x");
    EXPECT_TRUE(r.notices.empty());
  }
}

// ---- data and padding ------------------------------------------------------------------

TEST(cpio_data, filesize_past_the_end_of_the_input_is_truncated) {
  std::string a = newc().data(std::string(100, 'd')).bytes();
  a.resize(a.size() - 90);
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::truncated);
    EXPECT_EQ(r.err->context(), "cpio archive ends inside the data of \"file\"");
    EXPECT_EQ(r.err->offset(), a.size());
    const pushed p = push_all(a, 0, opts);
    EXPECT_TRUE(p.r.ok());
    EXPECT_FALSE(p.at_boundary);
  }
}

TEST(cpio_data, non_zero_padding_after_the_data_is_strict_error_and_kernel_notice) {
  // The kernel's SkipIt state skips to the next header without looking.
  const std::string a =
      newc().data("hello").data_pad(std::string("\0\x01\0", 3)).bytes() + next_entry + trailer();
  const std::uint64_t bad = 110 + 6 + 5 + 1; // header, "file\0" + pad, data, a zero
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->code(), errc::malformed);
  EXPECT_EQ(s.err->context(), "non-zero padding after the data of \"file\"");
  EXPECT_EQ(s.err->offset(), bad);

  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.entries[1].data, "after");
  ASSERT_EQ(k.notices.size(), 1u);
  EXPECT_EQ(k.notices[0].code, cpio::code::nonzero_padding);
  EXPECT_EQ(k.notices[0].level, ukikit::severity::note);
  EXPECT_EQ(k.notices[0].offset, bad);
  EXPECT_EQ(k.notices[0].subject, "file");
}

TEST(cpio_data, non_zero_padding_after_the_name_is_strict_error_and_kernel_notice) {
  // "ab\0" ends at 113; the padding to 116 is not zero.
  const std::string a =
      newc().name("ab").data("x").name_pad(std::string("\0\x7f\0", 3)).bytes() + trailer();
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->context(), "non-zero bytes after the name \"ab\"");
  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  EXPECT_EQ(k.entries.at(0).data, "x");
  const ukikit::finding* n = k.noticed(cpio::code::name_padding);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->subject, "ab");
}

TEST(cpio_data, header_written_without_the_data_padding_is_not_found) {
  // "hello" ends at 121; the next header starts there instead of at 124.
  const std::string a = newc().data("hello").data_pad("").bytes() + next_entry + trailer();
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->context(), "non-zero padding after the data of \"file\"");
  EXPECT_EQ(s.err->offset(), 121u);
  // The kernel skips to 124 and finds "701…" where a header or zero should be.
  const reading k = read_all(a, kernel);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.err->context(), "no cpio magic");
  EXPECT_EQ(k.err->offset(), 124u);
}

// ---- entries the kernel skips (formats.md §1.2 rule 6) ---------------------------------

TEST(cpio_skips, symlink_target_above_path_max_is_strict_error_and_kernel_skip) {
  const std::string a =
      newc().mode(0120777).name("l").data(std::string(4097, 't')).bytes() + next_entry + trailer();
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->code(), errc::malformed);
  EXPECT_EQ(s.err->context(), "symlink target of 0x1001 bytes is longer than PATH_MAX");

  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.entries[0].name, ""); // do_header skips it without reading the name
  EXPECT_EQ(k.entries[0].kernel_skip, "symlink target longer than PATH_MAX");
  EXPECT_EQ(k.entries[0].link_target, "");
  EXPECT_EQ(k.entries[1].data, "after");
  const ukikit::finding* n = k.noticed(cpio::code::entry_skipped);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->offset, 0u);
  EXPECT_EQ(n->subject, "l");
}

TEST(cpio_skips, symlink_target_of_exactly_path_max_is_read) {
  const std::string target(4096, 't');
  const std::string a = newc().mode(0120777).name("l").data(target).bytes() + trailer();
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(a, opts);
    ASSERT_TRUE(r.ok()) << r.error_text();
    EXPECT_EQ(r.entries.at(0).link_target, target);
    EXPECT_TRUE(r.entries.at(0).kernel_skip.empty());
  }
}

TEST(cpio_skips, directory_with_a_body_is_strict_error_and_kernel_skip) {
  // do_header reads the name only when S_ISREG(mode) || !body_len.
  const std::string a = newc().mode(040755).name("d").data("body").bytes() + next_entry + trailer();
  const reading s = read_all(a, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err->code(), errc::malformed);
  EXPECT_EQ(s.err->context(), "entry \"d\" of type 'd' has 0x4 bytes of data");
  EXPECT_EQ(s.err->offset(), 0u);

  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.entries[0].name, ""); // not read, as in the kernel
  EXPECT_FALSE(k.entries[0].kernel_skip.empty());
  EXPECT_EQ(k.entries[0].filesize, 4u);
  EXPECT_EQ(k.entries[0].data, "");
  EXPECT_EQ(k.entries[1].name, "next");
  EXPECT_EQ(k.entries[1].data, "after");
  const ukikit::finding* n = k.noticed(cpio::code::entry_skipped);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->offset, 0u);
  EXPECT_EQ(n->subject, "d");
}

TEST(cpio_skips, kernel_skips_without_reading_a_name_that_lacks_its_nul) {
  // The kernel never looks at the name of an entry it skips from the header.
  std::string a = newc().mode(040755).name("d").data("body").bytes();
  a[110 + 1] = 'X'; // the name's NUL, after the 110-byte header and "d"
  a += next_entry + trailer();
  const reading k = read_all(a, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.entries[1].data, "after");
}

// ---- between entries and archives (formats.md §1.2 rules 1, 2, 3, 12) ------------------

const std::string archive_a = newc().name("a").data("AAA").bytes() + trailer();
const std::string archive_b = newc().name("b").data("BBBBB").bytes() + trailer();

TEST(cpio_between, long_zero_runs_end_exactly_at_the_first_other_byte) {
  // Padding is skipped many bytes at a time; the walk must still stop at
  // the exact byte after it, wherever it falls in a word, in any chunking.
  for (std::size_t zeros = 0; zeros <= 72; ++zeros) {
    SCOPED_TRACE(zeros);
    const std::string s = archive_a + std::string(zeros, '\0') + "x";
    const std::uint64_t at = archive_a.size() + zeros;
    for (std::size_t chunk : {0, 5, 4096}) {
      const pushed p = push_all(s, chunk, kernel);
      if (at % 4 == 0) { // an aligned byte that starts no header: the walker's business
        ASSERT_TRUE(p.r.ok()) << p.r.error_text();
        EXPECT_TRUE(p.foreign);
        EXPECT_EQ(p.offset, at);
      } else { // the kernel's "broken padding"
        ASSERT_FALSE(p.r.ok());
        EXPECT_EQ(p.r.err->offset(), at);
        EXPECT_TRUE(p.r.err->context().find("broken padding") != std::string::npos);
      }
    }
  }
  for (std::size_t zeros : {std::size_t{1} << 20, (std::size_t{1} << 20) + 36}) {
    const std::string s = archive_a + std::string(zeros, '\0') + archive_b;
    const pushed p = push_all(s, 0, kernel);
    ASSERT_TRUE(p.r.ok()) << p.r.error_text();
    ASSERT_EQ(p.r.entries.size(), 4u);
    EXPECT_EQ(p.r.entries[2].offset, archive_a.size() + zeros);
    EXPECT_EQ(p.r.entries[2].data, "BBBBB");
  }
}

TEST(cpio_between, zero_runs_that_keep_alignment_separate_archives) {
  for (std::size_t zeros : {0, 4, 8, 512}) {
    SCOPED_TRACE(zeros);
    const std::string s = archive_a + std::string(zeros, '\0') + archive_b;
    for (const auto& opts : {strict, kernel}) {
      const pushed p = push_all(s, 0, opts);
      ASSERT_TRUE(p.r.ok()) << p.r.error_text();
      EXPECT_EQ(p.trailers, 2u);
      ASSERT_EQ(p.r.entries.size(), 4u);
      EXPECT_EQ(p.r.entries[2].data, "BBBBB");
      EXPECT_EQ(p.r.entries[2].offset, archive_a.size() + zeros);
    }
  }
}

TEST(cpio_between, zero_runs_of_odd_length_are_skipped_at_the_end) {
  // A '\0' skips one byte: any run of zero padding is allowed.
  for (std::size_t zeros : {1, 3, 5, 7}) {
    const std::string s = archive_a + std::string(zeros, '\0');
    const pushed p = push_all(s, 0, kernel);
    ASSERT_TRUE(p.r.ok()) << p.r.error_text();
    EXPECT_TRUE(p.at_boundary);
    EXPECT_EQ(p.offset, s.size());
    const reading r = read_all(s, kernel);
    EXPECT_TRUE(r.ok()) << r.error_text();
  }
}

TEST(cpio_between, header_after_a_zero_run_of_odd_length_is_broken_padding) {
  // do_reset: zeros are eaten; a non-zero byte where this_header & 3 != 0 is
  // "broken padding".
  for (std::size_t zeros : {1, 2, 3, 5, 6, 7}) {
    SCOPED_TRACE(zeros);
    const std::string s = archive_a + std::string(zeros, '\0') + archive_b;
    for (const auto& opts : {strict, kernel}) {
      const pushed p = push_all(s, 0, opts);
      ASSERT_FALSE(p.r.ok());
      EXPECT_EQ(p.r.err->code(), errc::malformed);
      EXPECT_EQ(p.r.err->context(), "broken padding: data at an unaligned offset after an entry");
      EXPECT_EQ(p.r.err->offset(), archive_a.size() + zeros);
    }
  }
}

TEST(cpio_between, any_non_zero_byte_at_an_unaligned_offset_after_an_entry_is_broken_padding) {
  const std::string s = archive_a + std::string(1, '\0') + "\x1f\x8b";
  const pushed p = push_all(s, 0, kernel);
  ASSERT_FALSE(p.r.ok());
  EXPECT_EQ(p.r.err->context(), "broken padding: data at an unaligned offset after an entry");
  EXPECT_EQ(p.r.err->offset(), archive_a.size() + 1);
}

TEST(cpio_between, foreign_bytes_at_an_aligned_offset_stop_the_parser) {
  // The initramfs walker decides whether they start a compressed segment.
  const std::string s = archive_a + std::string(4, '\0') + "\x1f\x8b\x08";
  const pushed p = push_all(s, 0, kernel);
  ASSERT_TRUE(p.r.ok()) << p.r.error_text();
  EXPECT_TRUE(p.foreign);
  EXPECT_TRUE(p.at_boundary);
  EXPECT_EQ(p.offset, archive_a.size() + 4);
}

TEST(cpio_between, odc_magic_when_only_newc_is_read_is_incorrect_cpio_method) {
  const std::string s = odc("file", "hello") + odc("TRAILER!!!", "", 0);
  cpio::options o = kernel;
  o.all_formats = false;
  for (auto mode : {cpio::strictness::strict, cpio::strictness::kernel}) {
    o.mode = mode;
    const reading r = read_all(s, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::malformed);
    EXPECT_EQ(r.err->context(), "incorrect cpio method used: use -H newc option");
    EXPECT_EQ(r.err->offset(), 0u);
  }
  // With all formats, the same bytes are an odc archive, as GNU cpio reads it.
  const reading all = read_all(s, strict);
  ASSERT_TRUE(all.ok()) << all.error_text();
  EXPECT_EQ(all.entries.at(0).format, cpio::format::odc);
  EXPECT_EQ(all.entries.at(0).data, "hello");
  UKIKIT_NEED_TOOL("cpio"); // GNU cpio reads the same
  EXPECT_EQ(lines(gnu_cpio("-t", ukikit::as_bytes(s))), std::vector<std::string>{"file"});
}

TEST(cpio_between, binary_magic_when_only_newc_is_read_is_not_a_header) {
  // The kernel takes a byte other than '0' or '\0' for a compression magic
  // (formats.md §1.2 rule 1): the parser stops there.
  std::string bin = "\xc7\x71";
  bin.resize(64, '\0');
  cpio::options o = strict;
  o.all_formats = false;
  const pushed p = push_all(bin, 0, o);
  ASSERT_TRUE(p.r.ok()) << p.r.error_text();
  EXPECT_TRUE(p.foreign);
  EXPECT_EQ(p.offset, 0u);
  const reading r = read_all(bin, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err->context(), "no cpio magic");
}

TEST(cpio_between, garbage_where_a_header_should_be_is_no_cpio_magic) {
  const std::string s =
      archive_a.substr(0, archive_a.size() - 124) + "0707x1" + std::string(200, '0');
  for (const auto& opts : {strict, kernel}) {
    const reading r = read_all(s, opts);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::malformed);
    EXPECT_EQ(r.err->context(), "no cpio magic (\"0707x1\")");
    EXPECT_EQ(r.err->offset(), archive_a.size() - 124);
  }
  const reading text = read_all(std::string("hello world\n"), strict);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.err->context(), "no cpio magic");
  EXPECT_EQ(text.err->offset(), 0u);
}

TEST(cpio_between, archive_without_a_trailer_is_an_error_only_in_strict_mode) {
  const std::string s = newc().data("hello").bytes();
  const reading st = read_all(s, strict);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.err->code(), errc::truncated);
  EXPECT_EQ(st.err->context(), "cpio archive ends without TRAILER!!!");
  EXPECT_EQ(st.entries.size(), 1u);

  const reading k = read_all(s, kernel);
  ASSERT_TRUE(k.ok()) << k.error_text();
  ASSERT_EQ(k.entries.size(), 1u);
  EXPECT_EQ(k.entries[0].data, "hello");
}

TEST(cpio_between, stream_that_ends_mid_entry_is_not_at_a_boundary) {
  const std::string whole = newc().data("hello").bytes() + trailer();
  for (std::size_t end : {1, 5, 6, 60, 109, 110, 114, 116, 118}) {
    SCOPED_TRACE(end);
    const std::string s = whole.substr(0, end);
    for (std::size_t chunk : {0, 1, 7}) {
      const pushed p = push_all(s, chunk, strict);
      ASSERT_TRUE(p.r.ok()) << p.r.error_text();
      EXPECT_FALSE(p.at_boundary);
    }
    const reading r = read_all(s, kernel);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err->code(), errc::truncated);
    EXPECT_EQ(r.err->offset(), end);
    EXPECT_NE(r.err->context().find("cpio archive ends inside "), std::string::npos);
  }
  const pushed complete = push_all(whole, 1, strict);
  EXPECT_TRUE(complete.at_boundary);
}

// ---- every adversarial input, in every chunking ------------------------------------------

TEST(cpio_chunks, adversarial_inputs_read_the_same_in_any_chunking) {
  const std::string inputs[] = {
      with_0x_filesize(),
      newc().raw(f_ino, "00002zz1").bytes() + trailer(),
      newc().data("abcdefg").namesize(0).name_field("").bytes() + next_entry + trailer(),
      newc().name(std::string(4096, 'n')).data("abc").bytes() + next_entry + trailer(),
      newc().name(std::string(4095, 'n')).data("abc").bytes() + trailer(),
      newc().namesize(200).bytes(),
      newc().name_field("abcde").bytes() + trailer(),
      newc().data("x").name_field(std::string("abc\0def\0", 8)).bytes() + trailer(),
      newc().data("hello").data_pad(std::string("\x01\x01\x01", 3)).bytes() + next_entry +
          trailer(),
      newc().name("ab").data("x").name_pad(std::string("\x01\x7f\x01", 3)).bytes() + trailer(),
      newc().data("hello").data_pad("").bytes() + next_entry + trailer(),
      newc().magic("070702").data("hello").check(533).bytes() + trailer(),
      newc().mode(0120777).name("l").data(std::string(4097, 't')).bytes() + next_entry,
      newc().mode(040755).name("d").data("body").bytes() + next_entry + trailer(),
      archive_a + std::string(3, '\0') + archive_b,
      archive_a + std::string(8, '\0') + archive_b + std::string(5, '\0'),
      archive_a + std::string(4, '\0') + "\x1f\x8b\x08",
      odc("file", "hello") + std::string(3, '\0') + odc("TRAILER!!!", "", 0),
      archive_a.substr(0, archive_a.size() - 124) + "0707x1" + std::string(200, '0'),
      "\xc7",
      "07070",
  };
  for (const std::string& in : inputs) {
    SCOPED_TRACE(testing::PrintToString(in.substr(0, 24)));
    expect_same_in_any_chunking(in, strict);
    expect_same_in_any_chunking(in, kernel);
  }
}

} // namespace
