// tar writer and `ukikit layer create`: a tree written by tar_writer.hpp is
// listed by GNU tar and bsdtar, extracted by both to the same tree as the
// source (types, modes, link targets, contents, hard-link identity), read
// back by Python's tarfile (checked field by field against the source and
// the ustar/pax rules, in a script independent of our code) and by our own
// reader; writing is deterministic; fields that do not fit ustar go to pax
// (checked by Python and GNU tar reading the headers); the command's digest
// and diff_id equal sha256sum of the file and of gzip -dc / zstd -dc.
#include "support.hpp"

#include <ukikit/report/json.hpp>
#include <ukikit/report/layer_create.hpp>
#include <ukikit/tar.hpp>
#include <ukikit/tar_writer.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace ukikit;
namespace t = ukikit::test;
namespace fs = std::filesystem;
using bytes = std::vector<std::byte>;

std::string q(const fs::path& p) { return t::sh_quote(p.string()); }

const std::string long_component(100, 'c'); // a 100-byte path component
const std::string deep = long_component + "/" + std::string(100, 'd') + "/" +
                         std::string(80, 'e'); // > 255 bytes: pax path
const std::string split =
    "long/" + std::string(60, 'a') + "/" + std::string(60, 'b'); // > 100, splits
const std::string long_target(150, 't');

// The tree of the brief: nested and empty directories, long names, a
// 100-byte component, long symlink targets, hard links (to a file with data
// and to an empty one), empty files, modes 0700/0755/04755, a name with a
// space and one that is not ASCII.
void make_tree(const fs::path& root) {
  fs::create_directories(root / "d1/d2/d3");
  fs::create_directories(root / "emptydir");
  fs::create_directories(root / "private");
  fs::create_directories(root / deep);
  fs::create_directories(root / split);
  t::write_file(root / "d1/d2/d3/file.txt", "nested\n");
  t::write_file(root / "empty", "");
  t::write_file(root / deep / "f", "deep\n");
  t::write_file(root / split / "file", "split\n");
  t::write_file(root / "d1" / std::string(100, 'f'), "hundred\n");
  t::write_file(root / std::string(100, 'g'), "g\n");
  t::write_file(root / "with space.txt", "space\n");
  t::write_file(root / "non-ascii-\xc3\xa9.txt", "utf-8\n");
  t::write_file(root / "private/secret", "0700\n");
  t::write_file(root / "tool", "#!/bin/sh\n");
  t::write_file(root / "suid", "suid\n");
  t::write_file(root / "big.bin", t::sample_bytes(3 << 20, 7));
  fs::create_symlink("d2/d3/file.txt", root / "d1/link");
  fs::create_symlink(long_target, root / "longlink");
  fs::create_symlink(std::string(100, 'u'), root / "link100");
  fs::create_hard_link(root / "d1/d2/d3/file.txt", root / "hard-a");
  fs::create_hard_link(root / "d1/d2/d3/file.txt", root / "hard-z");
  fs::create_hard_link(root / "empty", root / "d1/empty-link");
  ASSERT_EQ(t::run("chmod 0700 " + q(root / "private") + " " + q(root / "private/secret") +
                   " && chmod 0755 " + q(root / "tool") + " && chmod 04755 " + q(root / "suid") +
                   " && chmod 0755 " + q(root / "emptydir"))
                .status,
            0);
}

struct collecting_sink {
  bytes out;
  result<void> operator()(byte_span b) {
    out.insert(out.end(), b.begin(), b.end());
    return success();
  }
};

bytes write_tree(const fs::path& root, std::int64_t mtime = 0) {
  tar::walk_options w;
  w.mtime = mtime;
  finding_log log;
  auto members = tar::walk_tree(root, w, log);
  EXPECT_TRUE(members) << members.error().message();
  EXPECT_TRUE(log.empty());
  auto plan = tar::make_plan(std::move(*members));
  EXPECT_TRUE(plan) << plan.error().message();
  collecting_sink sink;
  auto n = tar::write(*plan, sink);
  EXPECT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, plan->size);
  EXPECT_EQ(sink.out.size(), plan->size);
  return sink.out;
}

// Python's tarfile against the source tree and the writer's rules, written
// from the spec (POSIX ustar/pax, OCI layer.md), not from our code.
constexpr std::string_view check_py = R"PY(
import os, stat, sys, tarfile
tar_path, root, mtime = sys.argv[1], sys.argv[2], int(sys.argv[3])
problems = []
def fail(m): problems.append(m)
def ascii_ok(s): return all(0x20 <= b < 0x7f for b in os.fsencode(s))
def splits(p):  # prefix <= 155, name <= 100, at a '/'
    b = os.fsencode(p)
    return any(b[i:i+1] == b'/' and 0 < i <= 155 and 0 < len(b) - i - 1 <= 100 for i in range(len(b)))
def needs_pax(name, link):
    return (not ascii_ok(name) or (len(os.fsencode(name)) > 100 and not splits(name))
            or not ascii_ok(link) or len(os.fsencode(link)) > 100)
expected = {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        expected[os.path.relpath(p, root)] = os.lstat(p)
first_of = {}
for rel in sorted(expected, key=os.fsencode):
    st = expected[rel]
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
        first_of.setdefault((st.st_dev, st.st_ino), rel)
seen = []
with tarfile.open(tar_path) as t:
    for m in t:
        rel = m.name.rstrip('/')
        seen.append(rel)
        st = expected.get(rel)
        if st is None: fail('unexpected member ' + m.name); continue
        if m.uid or m.gid or m.uname or m.gname: fail('owner of ' + rel)
        if m.mtime != mtime: fail('mtime of %s: %r' % (rel, m.mtime))
        if m.mode != stat.S_IMODE(st.st_mode): fail('mode of %s: %o' % (rel, m.mode))
        written = rel + '/' if stat.S_ISDIR(st.st_mode) else rel  # directories end in '/'
        if needs_pax(written, m.linkname) != bool(m.pax_headers):
            fail('pax of %s: %r' % (rel, m.pax_headers))
        key = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if not m.isdir(): fail('dir ' + rel)
        elif key in first_of and first_of[key] != rel:
            if not m.islnk() or m.linkname != first_of[key]: fail('hard link ' + rel)
        elif stat.S_ISLNK(st.st_mode):
            if not m.issym() or m.linkname != os.readlink(os.path.join(root, rel)): fail('symlink ' + rel)
        elif stat.S_ISREG(st.st_mode):
            data = t.extractfile(m).read()
            if not m.isreg() or data != open(os.path.join(root, rel), 'rb').read(): fail('file ' + rel)
        else: fail('type of ' + rel)
if seen != sorted(expected, key=os.fsencode): fail('members are not the sorted tree: %r' % seen)
print('\n'.join(problems) if problems else 'ok')
sys.exit(1 if problems else 0)
)PY";

// Type, mode, link target, contents, and which paths share an inode.
struct node_info {
  char type = '?';
  unsigned mode = 0;
  std::string link, data;
  std::set<std::string> same_inode;
};

std::map<std::string, node_info> snapshot(const fs::path& root) {
  std::map<std::string, node_info> out;
  std::map<std::pair<dev_t, ino_t>, std::set<std::string>> inodes;
  std::map<std::string, std::pair<dev_t, ino_t>> id;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = e.path().lexically_relative(root).string();
    struct stat st {};
    EXPECT_EQ(::lstat(e.path().c_str(), &st), 0);
    node_info n;
    n.mode = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) n.type = 'd';
    else if (S_ISLNK(st.st_mode)) n.type = 'l', n.link = fs::read_symlink(e.path()).string();
    else if (S_ISREG(st.st_mode)) {
      n.type = 'f';
      auto b = t::read_file(e.path());
      n.data.assign(reinterpret_cast<const char*>(b.data()), b.size());
    }
    if (!S_ISDIR(st.st_mode)) {
      inodes[{st.st_dev, st.st_ino}].insert(rel);
      id[rel] = {st.st_dev, st.st_ino};
    }
    out[rel] = n;
  }
  for (auto& [rel, n] : out)
    if (id.count(rel)) n.same_inode = inodes[id[rel]];
  return out;
}

void expect_same_tree(const fs::path& a, const fs::path& b, const std::string& who) {
  auto sa = snapshot(a), sb = snapshot(b);
  ASSERT_EQ(sa.size(), sb.size()) << who;
  for (const auto& [rel, n] : sa) {
    auto it = sb.find(rel);
    ASSERT_NE(it, sb.end()) << who << ": missing " << rel;
    EXPECT_EQ(n.type, it->second.type) << who << ": " << rel;
    EXPECT_EQ(n.mode, it->second.mode) << who << ": " << rel;
    EXPECT_EQ(n.link, it->second.link) << who << ": " << rel;
    EXPECT_EQ(n.data, it->second.data) << who << ": " << rel;
    EXPECT_EQ(n.same_inode, it->second.same_inode) << who << ": " << rel;
  }
}

TEST(TarWriter, GnuTarAndBsdtarListAndExtractTheSourceTree) {
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("bsdtar");
  t::temp_dir dir;
  make_tree(dir / "src");
  const bytes archive = write_tree(dir / "src");
  t::write_file(dir / "layer.tar", archive);
  const auto listed = t::run("LC_ALL=C tar -tv --numeric-owner -f " + q(dir / "layer.tar"));
  EXPECT_EQ(listed.status, 0);
  const auto bsd_listed = t::run("bsdtar -tv --numeric-owner -f " + q(dir / "layer.tar"));
  EXPECT_EQ(bsd_listed.status, 0);
  const auto entries = snapshot(dir / "src").size();
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), entries);
  EXPECT_EQ(std::count(bsd_listed.out.begin(), bsd_listed.out.end(), '\n'), entries);
  EXPECT_NE(listed.out.find("-rwsr-xr-x 0/0"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(deep + "/f"), std::string::npos);
  EXPECT_NE(listed.out.find("hard-z link to d1/d2/d3/file.txt"), std::string::npos) << listed.out;

  fs::create_directories(dir / "gnu");
  fs::create_directories(dir / "bsd");
  ASSERT_EQ(t::run("tar -xpf " + q(dir / "layer.tar") + " -C " + q(dir / "gnu")).status, 0);
  ASSERT_EQ(t::run("bsdtar -xpf " + q(dir / "layer.tar") + " -C " + q(dir / "bsd")).status, 0);
  expect_same_tree(dir / "src", dir / "gnu", "GNU tar");
  expect_same_tree(dir / "src", dir / "bsd", "bsdtar");
}

TEST(TarWriter, PythonTarfileReadsTheSourceTreeWithPaxOnlyWhereUstarDoesNotFit) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  make_tree(dir / "src");
  t::write_file(dir / "check.py", check_py);
  for (std::int64_t mtime : {std::int64_t{0}, std::int64_t{1700000000}}) {
    t::write_file(dir / "layer.tar", write_tree(dir / "src", mtime));
    auto r = t::run("python3 " + q(dir / "check.py") + " " + q(dir / "layer.tar") + " " +
                    q(dir / "src") + " " + std::to_string(mtime));
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, "ok\n");
  }
}

TEST(TarWriter, OurReaderReadsItBackStrictlyWithoutFindings) {
  t::temp_dir dir;
  make_tree(dir / "src");
  const bytes archive = write_tree(dir / "src", 1234);
  finding_log log;
  auto members = tar::walk_tree(dir / "src", {}, log);
  ASSERT_TRUE(members);
  auto plan = tar::make_plan(std::move(*members));
  ASSERT_TRUE(plan);
  tar::reader rd(archive);
  std::size_t i = 0;
  for (;;) {
    auto e = rd.next();
    ASSERT_TRUE(e) << e.error().message();
    if (!*e) break;
    ASSERT_LT(i, plan->members.size());
    const auto& m = plan->members[i++];
    const auto& got = **e;
    EXPECT_EQ(got.path(), m.type == tar::entry_type::directory ? m.path + "/" : m.path);
    EXPECT_EQ(got.type, m.type) << m.path;
    EXPECT_EQ(got.mode, m.mode) << m.path;
    EXPECT_EQ(got.mtime, 1234);
    EXPECT_EQ(got.linkname, m.link) << m.path;
    EXPECT_EQ(got.size, m.size) << m.path;
    EXPECT_EQ(got.format, tar::header_format::ustar);
    if (m.type == tar::entry_type::file) {
      const auto want = t::read_file(m.source);
      EXPECT_TRUE(std::equal(got.data.begin(), got.data.end(), want.begin(), want.end())) << m.path;
    }
  }
  EXPECT_EQ(i, plan->members.size());
  EXPECT_TRUE(rd.findings().empty());
}

TEST(TarWriter, WritingTwiceGivesTheSameBytesAndAnotherMtimeChangesOnlyTimesAndChecksums) {
  t::temp_dir dir;
  make_tree(dir / "src");
  const bytes a = write_tree(dir / "src");
  const bytes b = write_tree(dir / "src");
  EXPECT_EQ(a, b);
  const bytes c = write_tree(dir / "src", 1700000000);
  ASSERT_EQ(a.size(), c.size());
  // Allowed to differ: the mtime (136:12) and chksum (148:8) fields of each
  // member's own header (the pax `x` headers have mtime 0).
  std::set<std::size_t> allowed;
  tar::reader rd(a);
  std::size_t headers = 0;
  while (auto e = rd.next()) {
    if (!*e) break;
    ++headers;
    for (std::size_t k = 136; k < 156; ++k) allowed.insert((*e)->header_offset + k);
  }
  std::set<std::size_t> changed_headers;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == c[i]) continue;
    EXPECT_TRUE(allowed.count(i)) << "byte " << i << " changed";
    changed_headers.insert(i / 512);
  }
  EXPECT_EQ(changed_headers.size(), headers); // every member's time changed
}

// A sink that keeps the first bytes and counts the rest (the data of a
// sparse file of 8 GiB is never touched).
struct head_sink {
  bytes head;
  std::uint64_t total = 0;
  result<void> operator()(byte_span b) {
    const std::size_t keep =
        std::min<std::size_t>(b.size(), 65536 - std::min<std::size_t>(head.size(), 65536));
    head.insert(head.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(keep));
    total += b.size();
    return success();
  }
};

TEST(TarWriter, SizesOf8GiBIdsAbove07777777AndNegativeTimesGoToPax) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("tar");
  t::temp_dir dir;
  const std::uint64_t big = std::uint64_t{8} << 30; // 077777777777 + 1
  {
    file::detail::fd_guard fd(::open((dir / "sparse").c_str(), O_CREAT | O_WRONLY, 0644));
    ASSERT_GE(fd.get(), 0);
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(big)), 0);
  }
  std::vector<tar::member> ms(4);
  ms[0].path = "a-fits";
  ms[0].mode = 0644;
  ms[0].uid = tar::max_octal_id; // 07777777: still ustar
  ms[0].mtime = static_cast<std::int64_t>(tar::max_octal_size);
  ms[1].path = "b-uid";
  ms[1].mode = 0600;
  ms[1].uid = tar::max_octal_id + 1;
  ms[1].gid = 4000000000; // a 32-bit gid_t, as GNU tar reads it
  ms[2].path = "c-old";
  ms[2].mode = 0644;
  ms[2].mtime = -86400;
  ms[3].path = "z-big";
  ms[3].mode = 0644;
  ms[3].size = big;
  ms[3].source = dir / "sparse";
  auto plan = tar::make_plan(ms);
  ASSERT_TRUE(plan) << plan.error().message();
  head_sink sink;
  auto n = tar::write(*plan, sink);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(sink.total, plan->size);
  // a: a header; b, c, z: an x header, its records (one block), the header.
  EXPECT_EQ(plan->size, 512 + 3 * 3 * 512 + big + 1024);
  t::write_file(dir / "head.tar", sink.head);
  const std::string py = R"(
import sys, tarfile
t = tarfile.open(sys.argv[1], 'r|')
for m in t:
    print(m.name, m.size, m.uid, m.gid, m.mtime, ','.join(sorted(m.pax_headers)))
    if m.name == 'z-big': break
)";
  t::write_file(dir / "read.py", py);
  auto r = t::run("python3 " + q(dir / "read.py") + " " + q(dir / "head.tar"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "a-fits 0 2097151 0 8589934591 \n"
                   "b-uid 0 2097152 4000000000 0 gid,uid\n"
                   "c-old 0 0 0 -86400.0 mtime\n"
                   "z-big 8589934592 0 0 0 size\n");
  // GNU tar lists the headers, then finds the archive cut short.
  auto g =
      t::run("LC_ALL=C tar --utc -tv --numeric-owner -f " + q(dir / "head.tar") + " 2>/dev/null");
  EXPECT_NE(g.out.find(" 8589934592 1970-01-01 00:00 z-big"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("2097152/4000000000"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("1969-12-31 00:00 c-old"), std::string::npos) << g.out;
}

TEST(TarWriter, XattrsAreSchilyPaxRecords) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  tar::member m;
  m.path = "f";
  m.mode = 0644;
  m.size = 2;
  const std::string data = "hi";
  m.data = as_bytes(data);
  m.xattrs = {{"user.b", "2"}, {"security.capability", std::string("\x01\0\0\x02", 4)}};
  auto plan = tar::make_plan({m});
  ASSERT_TRUE(plan);
  collecting_sink sink;
  ASSERT_TRUE(tar::write(*plan, sink));
  t::write_file(dir / "x.tar", sink.out);
  auto r =
      t::run("python3 -c \"import tarfile; m = tarfile.open('" + (dir / "x.tar").string() +
             "').getmembers()[0]; print(sorted((k, v.encode('utf-8', 'surrogateescape')) for k, "
             "v in m.pax_headers.items()))\"");
  EXPECT_EQ(r.out, "[('SCHILY.xattr.security.capability', b'\\x01\\x00\\x00\\x02'), "
                   "('SCHILY.xattr.user.b', b'2')]\n");
}

TEST(TarWriter, RefusesDuplicatesBadPathsAndDanglingHardLinks) {
  auto one = [](std::string path, tar::entry_type type = tar::entry_type::file,
                std::string link = {}) {
    tar::member m;
    m.path = std::move(path);
    m.type = type;
    m.link = std::move(link);
    return m;
  };
  EXPECT_FALSE(tar::make_plan({one("a"), one("b"), one("a")}));
  for (const char* bad : {"", "/abs", "a/../b", "a//b", "./a", "a/", ".."})
    EXPECT_FALSE(tar::make_plan({one(bad)})) << bad;
  EXPECT_FALSE(tar::make_plan({one("b", tar::entry_type::hardlink, "a")}));
  EXPECT_FALSE(tar::make_plan({one("a", tar::entry_type::hardlink, "b"), one("b")}));
  EXPECT_FALSE(tar::make_plan(
      {one("a", tar::entry_type::directory), one("b", tar::entry_type::hardlink, "a")}));
  EXPECT_TRUE(tar::make_plan({one("a"), one("b", tar::entry_type::hardlink, "a")}));
  EXPECT_FALSE(tar::make_plan({one("s", tar::entry_type::symlink)})); // no target
  auto sized = one("d", tar::entry_type::directory);
  sized.size = 1;
  EXPECT_FALSE(tar::make_plan({sized}));
  auto huge = one("p");
  huge.xattrs = {{"user.x", std::string(tar::max_pax_size, 'x')}};
  auto r = tar::make_plan({huge});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::invalid_argument);
}

TEST(TarWriter, SocketsAreSkippedWithAFindingAndDevicesCanBeLeftOut) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  fs::create_directories(dir / "src");
  t::write_file(dir / "src/file", "x");
  ASSERT_EQ(t::run("mkfifo " + q(dir / "src/fifo") +
                   " && python3 -c \"import socket; "
                   "socket.socket(socket.AF_UNIX).bind('" +
                   (dir / "src/sock").string() + "')\"")
                .status,
            0);
  finding_log log;
  auto ms = tar::walk_tree(dir / "src", {}, log);
  ASSERT_TRUE(ms);
  ASSERT_EQ(ms->size(), 2u); // fifo, file
  EXPECT_EQ((*ms)[0].type, tar::entry_type::fifo);
  ASSERT_EQ(log.kept().size(), 1u);
  EXPECT_EQ(log.kept()[0].code, tar::code::socket_skipped);
  EXPECT_EQ(log.kept()[0].subject, "sock");
  tar::walk_options no_devices;
  no_devices.devices = false;
  finding_log log2;
  ms = tar::walk_tree(dir / "src", no_devices, log2);
  ASSERT_TRUE(ms);
  EXPECT_EQ(ms->size(), 1u);
  ASSERT_EQ(log2.kept().size(), 2u);
  EXPECT_EQ(log2.kept()[0].code, tar::code::special_skipped);
}

TEST(TarWriter, AFileThatChangesOrVanishesAfterPlanningIsAnError) {
  t::temp_dir dir;
  fs::create_directories(dir / "src");
  t::write_file(dir / "src/a", "12345");
  t::write_file(dir / "src/b", "12345");
  finding_log log;
  auto ms = tar::walk_tree(dir / "src", {}, log);
  ASSERT_TRUE(ms);
  auto plan = tar::make_plan(std::move(*ms));
  ASSERT_TRUE(plan);
  t::write_file(dir / "src/a", "123456");
  collecting_sink sink;
  auto r = tar::write(*plan, sink);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::io);
  t::write_file(dir / "src/a", "12345");
  fs::remove(dir / "src/b");
  r = tar::write(*plan, sink);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::io);
  EXPECT_NE(r.error().message().find("src/b"), std::string::npos) << r.error().message();
}

// ---- ukikit layer create ---------------------------------------------------------

std::string sha256sum(const std::string& command) {
  auto r = t::run(command + " | sha256sum");
  EXPECT_EQ(r.status, 0);
  return "sha256:" + r.out.substr(0, 64);
}

TEST(LayerCreate, DigestAndDiffIdEqualSha256sumOfTheFileAndOfItsDecompression) {
  UKIKIT_NEED_TOOL("sha256sum");
  UKIKIT_NEED_TOOL("gzip");
  UKIKIT_NEED_TOOL("zstd");
  UKIKIT_NEED_TOOL("faketime");
  t::temp_dir dir;
  make_tree(dir / "src");
  struct form {
    std::string flag, media, decompress, test;
  };
  const form forms[] = {
      {"gzip", "application/vnd.oci.image.layer.v1.tar+gzip", "gzip -dc", "gzip -t"},
      {"zstd", "application/vnd.oci.image.layer.v1.tar+zstd", "zstd -qdc", "zstd -qt"},
      {"none", "application/vnd.oci.image.layer.v1.tar", "cat", "true"},
  };
  for (const auto& f : forms) {
    const auto out = dir / ("layer." + f.flag);
    auto r = t::run(t::tool("ukikit") + " layer create --json --compress " + f.flag + " " +
                    q(dir / "src") + " -o " + q(out));
    ASSERT_EQ(r.status, 0) << f.flag;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["digest"], sha256sum("cat " + q(out))) << f.flag;
    EXPECT_EQ(j["diff_id"], sha256sum(f.decompress + " " + q(out))) << f.flag;
    EXPECT_EQ(j["size"], fs::file_size(out)) << f.flag;
    EXPECT_EQ(j["media_type"], f.media);
    EXPECT_EQ(t::run(f.test + " " + q(out)).status, 0) << f.flag;
    // The same tree elsewhere (another cwd, umask, time zone, clock) gives the same bytes.
    const auto again = dir / ("again." + f.flag);
    auto r2 =
        t::run(t::elsewhere(dir / "cwd", t::tool("ukikit") + " layer create --json --compress " +
                                             f.flag + " " + q(dir / "src") + " -o " + q(again)));
    ASSERT_EQ(r2.status, 0);
    EXPECT_EQ(r2.out, r.out) << f.flag;
    EXPECT_EQ(t::read_file(out), t::read_file(again)) << f.flag;
  }
  // --level changes the gzip bytes, not the diff_id; the same level the same bytes.
  auto level = [&](int n, const std::string& name) {
    auto r = t::run(t::tool("ukikit") + " layer create --json --level " + std::to_string(n) + " " +
                    q(dir / "src") + " -o " + q(dir / name));
    EXPECT_EQ(r.status, 0);
    return nlohmann::json::parse(r.out);
  };
  auto l1 = level(1, "l1"), l9 = level(9, "l9"), l9b = level(9, "l9b");
  EXPECT_EQ(l1["diff_id"], l9["diff_id"]);
  EXPECT_NE(l1["digest"], l9["digest"]);
  EXPECT_EQ(l9, l9b);
  EXPECT_EQ(t::read_file(dir / "l9"), t::read_file(dir / "l9b"));
}

TEST(LayerCreate, MtimeComesFromTheOptionElseSourceDateEpochElseZero) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  fs::create_directories(dir / "src/d");
  t::write_file(dir / "src/d/f", "x");
  auto mtimes = [&](const std::string& env, const std::string& args) {
    auto r = t::run("env -u SOURCE_DATE_EPOCH " + env + " " + t::tool("ukikit") +
                    " layer create --compress none " + args + " " + q(dir / "src") + " -o " +
                    q(dir / "l.tar") +
                    " >/dev/null && python3 -c \"import tarfile; print(sorted({m.mtime "
                    "for m in tarfile.open('" +
                    (dir / "l.tar").string() + "')}))\"");
    EXPECT_EQ(r.status, 0);
    return r.out;
  };
  EXPECT_EQ(mtimes("", ""), "[0]\n");
  EXPECT_EQ(mtimes("SOURCE_DATE_EPOCH=1700000000", ""), "[1700000000]\n");
  EXPECT_EQ(mtimes("SOURCE_DATE_EPOCH=1700000000", "--mtime 86400"), "[86400]\n");
  auto bad = t::run("SOURCE_DATE_EPOCH=soon " + t::tool("ukikit") + " layer create " +
                    q(dir / "src") + " -o " + q(dir / "bad") + " 2>/dev/null");
  EXPECT_EQ(bad.status, 2);
  EXPECT_FALSE(fs::exists(dir / "bad"));
}

// Unreadable entries are errors that name them, and nothing is written. Run
// as nobody: root reads everything.
TEST(LayerCreate, UnreadableFilesAndDirectoriesAreErrorsAndNothingIsWritten) {
  UKIKIT_NEED_TOOL("setpriv");
  t::temp_dir dir;
  fs::permissions(dir.path(), fs::perms::all);
  fs::create_directories(dir / "src/closed");
  t::write_file(dir / "src/secret", "x");
  t::write_file(dir / "src/open", "y");
  ASSERT_EQ(t::run("chmod 0755 " + q(dir / "src") + " && chmod 0 " + q(dir / "src/secret")).status,
            0);
  const std::string as_nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups " +
                                t::tool("ukikit") + " layer create " + q(dir / "src") + " -o " +
                                q(dir / "out.tar.gz") + " 2>&1";
  auto r = t::run(as_nobody);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("src/secret"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "out.tar.gz"));
  ASSERT_EQ(
      t::run("chmod 0644 " + q(dir / "src/secret") + " && chmod 0 " + q(dir / "src/closed")).status,
      0);
  r = t::run(as_nobody);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("src/closed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "out.tar.gz"));
  ASSERT_EQ(t::run("chmod 0755 " + q(dir / "src/closed")).status, 0);
  r = t::run(as_nobody);
  EXPECT_EQ(r.status, 0) << r.out;
}

TEST(LayerCreate, LibraryReportIsWhatTheToolPrints) {
  t::temp_dir dir;
  make_tree(dir / "src");
  report::layer_create_options o;
  o.compression = compress::format::zstd;
  collecting_sink sink;
  auto layer = report::create_layer(dir / "src", o, sink);
  ASSERT_TRUE(layer) << layer.error().message();
  auto r = t::run(t::tool("ukikit") + " layer create --json --compress zstd " + q(dir / "src") +
                  " -o " + q(dir / "l.zst"));
  EXPECT_EQ(r.out, report::json_text(report::to_json(*layer)) + "\n");
  EXPECT_EQ(t::read_file(dir / "l.zst"), sink.out);
  o.compression = compress::format::xz;
  EXPECT_FALSE(report::create_layer(dir / "src", o, sink));
}

} // namespace
