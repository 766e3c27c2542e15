#include <ukikit/file.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace ukikit::file {
namespace {

namespace t = ukikit::test;

// Names in a directory, for checking that nothing was left behind.
std::vector<std::string> names_in(const t::fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : t::fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(mapped_file, maps_a_regular_file) {
  t::temp_dir dir;
  auto data = t::sample_bytes(100000);
  t::write_file(dir / "in", data);
  auto f = mapped_file::open(dir / "in");
  ASSERT_TRUE(f.ok()) << f.error().message();
  ASSERT_EQ(f->size(), data.size());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), f->bytes().begin()));
  f->advise_sequential();
  mapped_file moved = std::move(*f);
  EXPECT_EQ(moved.size(), data.size());
  EXPECT_EQ(f->size(), 0u);
}

TEST(mapped_file, rejects_empty_file) {
  t::temp_dir dir;
  t::write_file(dir / "empty", std::string_view());
  auto f = mapped_file::open(dir / "empty");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), errc::io);
  EXPECT_NE(f.error().message().find("file is empty"), std::string::npos) << f.error().message();
}

TEST(mapped_file, rejects_directory_device_and_fifo) {
  t::temp_dir dir;
  auto d = mapped_file::open(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("is a directory"), std::string::npos);
  auto dev = mapped_file::open("/dev/null");
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message().find("not a regular file"), std::string::npos);
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  // Without a writer, a blocking open of a FIFO would hang: it must not.
  auto fifo = mapped_file::open(dir / "fifo");
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.error().message().find("not a regular file"), std::string::npos);
}

TEST(mapped_file, reports_missing_and_unreadable_paths) {
  t::temp_dir dir;
  auto missing = mapped_file::open(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);
  EXPECT_NE(missing.error().message().find("nope"), std::string::npos);
  if (geteuid() != 0) {
    t::write_file(dir / "secret", std::string_view("x"));
    chmod((dir / "secret").c_str(), 0);
    EXPECT_FALSE(mapped_file::open(dir / "secret").ok());
  }
}

TEST(output_file, appears_only_on_commit) {
  t::temp_dir dir;
  auto out = output_file::create(dir / "out.bin");
  ASSERT_TRUE(out.ok()) << out.error().message();
  ASSERT_TRUE(out->write(as_bytes("hello ")).ok());
  ASSERT_TRUE(out->write(as_bytes("world")).ok());
  EXPECT_FALSE(t::fs::exists(dir / "out.bin"));
  EXPECT_EQ(out->written(), 11u);
  ASSERT_TRUE(out->commit().ok());
  auto back = t::read_file(dir / "out.bin");
  EXPECT_EQ(std::string(as_chars(back)), "hello world");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.bin"});
  EXPECT_EQ(t::fs::status(dir / "out.bin").permissions() & t::fs::perms::all, t::fs::perms(0644));
}

TEST(output_file, discarded_output_leaves_nothing_and_keeps_old_file) {
  t::temp_dir dir;
  t::write_file(dir / "out.bin", std::string_view("old"));
  {
    auto out = output_file::create(dir / "out.bin");
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(out->write(as_bytes("half-written")).ok());
  } // destroyed without commit, as when a process fails
  EXPECT_EQ(std::string(as_chars(t::read_file(dir / "out.bin"))), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.bin"});
}

TEST(output_file, killed_writer_never_leaves_a_partial_target) {
  t::temp_dir dir;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto out = output_file::create(dir / "out.bin");
    if (!out.ok()) _exit(3);
    std::vector<std::byte> chunk(1 << 16);
    (void)out->write(chunk);
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(t::fs::exists(dir / "out.bin"));
}

TEST(output_file, commit_replaces_existing_file_and_sets_mode) {
  t::temp_dir dir;
  t::write_file(dir / "tool", std::string_view("old"));
  ASSERT_TRUE(write_file(dir / "tool", as_bytes("new"), 0755).ok());
  EXPECT_EQ(std::string(as_chars(t::read_file(dir / "tool"))), "new");
  EXPECT_EQ(t::fs::status(dir / "tool").permissions() & t::fs::perms::all, t::fs::perms(0755));
}

// /dev/null and a FIFO are written in place, never replaced (an atomic
// rename onto /dev/null would turn it into a regular file for everyone).
TEST(output_file, writes_devices_and_fifos_in_place) {
  ASSERT_TRUE(write_file("/dev/null", as_bytes("discarded"), 0600).ok());
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);

  t::temp_dir dir;
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  // A reader on the other end, in the shell, copies what arrives.
  std::thread reader([&dir] {
    t::run("cat " + t::sh_quote((dir / "fifo").string()) + " > " +
           t::sh_quote((dir / "got").string()));
  });
  const bool written = write_file(dir / "fifo", as_bytes("through the pipe"), 0644).ok();
  reader.join();
  ASSERT_TRUE(written);
  EXPECT_EQ(std::string(as_chars(t::read_file(dir / "got"))), "through the pipe");
  ASSERT_EQ(::stat((dir / "fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));

  auto d = output_file::create(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("is a directory"), std::string::npos);
}

TEST(output_file, reports_missing_directory) {
  t::temp_dir dir;
  auto out = output_file::create(dir / "no" / "such" / "out.bin");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), errc::io);
  EXPECT_NE(out.error().message().find("No such file"), std::string::npos) << out.error().message();
}

} // namespace
} // namespace ukikit::file
