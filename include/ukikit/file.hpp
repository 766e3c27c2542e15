// Files: read-only memory mapping of inputs, and outputs that appear only
// when complete.
//
// mapped_file maps a regular file read-only; parsers then see it as one
// byte_span. (A file truncated by another process while mapped raises
// SIGBUS on access; ukikit maps files it was asked to read, as every mmap
// based tool does.) read_file reads a regular file with pread instead, for a
// reader that looks at little of a large file (a raw tar layer's headers).
//
// output_file writes to an unnamed temporary file in the target directory
// (O_TMPFILE) or, where the filesystem lacks it, to a hidden temporary name
// there; commit() flushes it to disk and renames it into place. A process
// killed before commit() never leaves a half-written output under the target
// name.
#pragma once

#include "bytes.hpp"
#include "result.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ukikit::file {

namespace detail {

inline error os_error(std::string_view what, const std::filesystem::path& p, int err) {
  return error(errc::io, std::string(what) + " " + p.string() + " (" + std::strerror(err) + ")");
}

// Closes a descriptor on scope exit unless released.
class fd_guard {
public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  fd_guard(fd_guard&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  fd_guard& operator=(fd_guard&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~fd_guard() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

inline std::string random_suffix() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s(12, 'x');
  for (char& c : s) c = alphabet[rd() % (sizeof alphabet - 1)];
  return s;
}

// Opens a regular, non-empty file that fits the address space for reading;
// directories, devices, pipes, empty files and unreadable paths give an
// error that names the path.
inline result<std::pair<fd_guard, std::size_t>> open_regular(const std::filesystem::path& path) {
  fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return os_error("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return os_error("cannot stat", path, errno);
  if (S_ISDIR(st.st_mode))
    return error(errc::io, "cannot read " + path.string() + " (is a directory)");
  if (!S_ISREG(st.st_mode))
    return error(errc::io, "cannot read " + path.string() + " (not a regular file)");
  if (st.st_size == 0) return error(errc::io, "cannot read " + path.string() + " (file is empty)");
  if (static_cast<std::uint64_t>(st.st_size) > SIZE_MAX)
    return error(errc::limit_exceeded,
                 "cannot map " + path.string() + " (" + std::to_string(st.st_size) +
                     " bytes, more than the address space's " + std::to_string(SIZE_MAX) + ")");
  return std::pair<fd_guard, std::size_t>(std::move(fd), static_cast<std::size_t>(st.st_size));
}

} // namespace detail

class mapped_file {
public:
  mapped_file() = default;
  mapped_file(mapped_file&& o) noexcept
      : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      path_ = std::move(o.path_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() { unmap(); }

  // Map a regular, non-empty file. Directories, devices, pipes, empty files
  // and unreadable paths give an error that names the path.
  static result<mapped_file> open(const std::filesystem::path& path) {
    UKIKIT_TRY_ASSIGN(auto opened, detail::open_regular(path));
    return map(opened.first.get(), opened.second, path);
  }

  // Map `size` bytes of an open regular file (read_file's, say); `path`
  // names it in errors.
  static result<mapped_file> map(int fd, std::size_t size, const std::filesystem::path& path) {
    if (size == 0) return error(errc::io, "cannot read " + path.string() + " (file is empty)");
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return detail::os_error("cannot map", path, errno);
    mapped_file f;
    f.path_ = path;
    f.data_ = static_cast<const std::byte*>(p);
    f.size_ = size;
    return f;
  }

  byte_span bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Drop the pages wholly inside `part` (a span of this mapping) from memory
  // once they have been read: they count as resident otherwise, and a later
  // access reads them back from the file. Keeps hashing a large file flat.
  void release(byte_span part) const noexcept {
    if (!data_ || part.empty() || part.data() < data_ || part.data() + part.size() > data_ + size_)
      return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto begin = reinterpret_cast<std::uintptr_t>(part.data());
    auto end = begin + part.size();
    begin = (begin + page - 1) & ~(page - 1);
    end &= ~(page - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }

  // Hint that the whole file will be read front to back (hashing).
  void advise_sequential() const noexcept {
    if (data_) ::madvise(const_cast<std::byte*>(data_), size_, MADV_SEQUENTIAL);
  }

private:
  void unmap() noexcept {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Zeroed memory of a given size in which only the pages written take
// memory: a private anonymous mapping reserved without swap. A file streamed
// past can be laid out at its own offsets (uki/stream.hpp) while its large
// parts, never written, cost nothing; reading them gives zeros.
class sparse_buffer {
public:
  static result<sparse_buffer> create(std::size_t size) {
    sparse_buffer b;
    b.size_ = size;
    if (size == 0) return b;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return error(errc::io, "cannot reserve " + std::to_string(size) + " bytes (" +
                                 std::strerror(errno) + ")");
    b.data_ = static_cast<std::byte*>(p);
    return b;
  }
  sparse_buffer() = default;
  sparse_buffer(sparse_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  sparse_buffer& operator=(sparse_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~sparse_buffer() { reset(); }

  byte_span bytes() const noexcept { return {data_, data_ ? size_ : 0}; }
  std::size_t size() const noexcept { return size_; }
  // Copies `piece` to `offset`; false when it does not fit.
  bool write(std::uint64_t offset, byte_span piece) noexcept {
    if (offset > size_ || piece.size() > size_ - offset) return false;
    if (!piece.empty()) std::memcpy(data_ + offset, piece.data(), piece.size());
    return true;
  }

private:
  void reset() noexcept {
    if (data_) ::munmap(data_, size_);
    data_ = nullptr;
  }
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// A regular file read with pread: for a reader that skips most of a large
// file (a raw tar layer listed header by header), where mapping it would
// fault in and then unmap pages it never looks at.
class read_file {
public:
  // The same checks as mapped_file::open.
  static result<read_file> open(const std::filesystem::path& path) {
    UKIKIT_TRY_ASSIGN(auto opened, detail::open_regular(path));
    read_file f;
    f.path_ = path;
    f.fd_ = std::move(opened.first);
    f.size_ = opened.second;
    return f;
  }

  std::size_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  int fd() const noexcept { return fd_.get(); }

  // Fill `into` from `offset`: the bytes as far as the end of the file.
  // A file that ended earlier than its size said (cut by another process)
  // is an error.
  result<byte_span> read_at(std::uint64_t offset, std::span<std::byte> into) const {
    if (offset > size_) offset = size_;
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(into.size(), size_ - offset));
    std::size_t got = 0;
    while (got < want) {
      ssize_t n =
          ::pread(fd_.get(), into.data() + got, want - got, static_cast<off_t>(offset + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return detail::os_error("cannot read", path_, errno);
      }
      if (n == 0)
        return error(errc::io, "cannot read " + path_.string() + " (it ended at " +
                                   std::to_string(offset + got) + " bytes, not " +
                                   std::to_string(size_) + ")");
      got += static_cast<std::size_t>(n);
    }
    return byte_span(into.data(), want);
  }

private:
  read_file() = default;

  std::filesystem::path path_;
  detail::fd_guard fd_;
  std::size_t size_ = 0;
};

class output_file {
public:
  output_file(output_file&& o) noexcept
      : target_(std::move(o.target_)), temp_(std::exchange(o.temp_, {})), fd_(std::move(o.fd_)),
        mode_(o.mode_), written_(o.written_), direct_(o.direct_) {}
  output_file& operator=(output_file&& o) noexcept {
    if (this != &o) {
      discard();
      target_ = std::move(o.target_);
      temp_ = std::exchange(o.temp_, {});
      fd_ = std::move(o.fd_);
      mode_ = o.mode_;
      written_ = o.written_;
      direct_ = o.direct_;
    }
    return *this;
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() { discard(); }

  // Start writing `target`; nothing appears under that name until commit().
  // A target that is a character device or a FIFO (/dev/null, /dev/stdout,
  // a pipe) is written directly: it cannot be replaced, and must not be.
  static result<output_file> create(const std::filesystem::path& target, mode_t mode = 0644) {
    output_file f;
    f.target_ = target;
    f.mode_ = mode;
    std::filesystem::path dir = target.parent_path();
    if (dir.empty()) dir = ".";
    if (target.filename().empty())
      return error(errc::invalid_argument, "output path " + target.string() + " names no file");
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      if (S_ISDIR(st.st_mode))
        return error(errc::invalid_argument, "output path " + target.string() + " is a directory");
      if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
        return error(errc::invalid_argument,
                     "output path " + target.string() +
                         " is not a regular file, a character device or a FIFO");
      f.fd_ = detail::fd_guard(::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
      if (f.fd_.get() < 0) return detail::os_error("cannot open", target, errno);
      f.direct_ = true;
      return f;
    }
#ifdef O_TMPFILE
    f.fd_ = detail::fd_guard(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    if (f.fd_.get() >= 0) return f;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
      return detail::os_error("cannot create a file in", dir, errno);
#endif
    // Fallback: a hidden name next to the target.
    f.temp_ = dir / ("." + target.filename().string() + ".tmp-" + detail::random_suffix());
    f.fd_ = detail::fd_guard(
        ::open(f.temp_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (f.fd_.get() < 0) {
      int err = errno;
      f.temp_.clear();
      return detail::os_error("cannot create", target, err);
    }
    return f;
  }

  result<void> write(byte_span data) {
    if (fd_.get() < 0)
      return error(errc::invalid_argument, "write to a closed output " + target_.string());
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return detail::os_error("cannot write", target_, errno);
      }
      data = data.subspan(static_cast<std::size_t>(n));
      written_ += static_cast<std::uint64_t>(n);
    }
    return {};
  }

  std::uint64_t written() const noexcept { return written_; }
  const std::filesystem::path& target() const noexcept { return target_; }

  // Flush to disk and move into place under the target name, replacing any
  // file there.
  result<void> commit() {
    if (fd_.get() < 0)
      return error(errc::invalid_argument, "output " + target_.string() + " is closed");
    if (direct_) { // a device or FIFO: written as we went
      fd_.reset();
      return {};
    }
    if (::fchmod(fd_.get(), mode_) != 0) return detail::os_error("cannot chmod", target_, errno);
    if (::fsync(fd_.get()) != 0) return detail::os_error("cannot flush", target_, errno);
    if (temp_.empty()) {
      // O_TMPFILE: link the unnamed file under a temporary name, then rename.
      std::filesystem::path dir = target_.parent_path();
      if (dir.empty()) dir = ".";
      std::filesystem::path tmp =
          dir / ("." + target_.filename().string() + ".tmp-" + detail::random_suffix());
      std::string proc = "/proc/self/fd/" + std::to_string(fd_.get());
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) != 0)
        return detail::os_error("cannot link", target_, errno);
      temp_ = tmp;
    }
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      int err = errno;
      discard();
      return detail::os_error("cannot rename into", target_, err);
    }
    temp_.clear();
    fd_.reset();
    return {};
  }

  // Drop the output; nothing is left behind. Also done by the destructor.
  void discard() noexcept {
    fd_.reset();
    if (!temp_.empty()) ::unlink(temp_.c_str());
    temp_.clear();
  }

private:
  output_file() = default;

  std::filesystem::path target_;
  std::filesystem::path temp_; // named temporary, if any
  detail::fd_guard fd_;
  mode_t mode_ = 0644;
  std::uint64_t written_ = 0;
  bool direct_ = false; // a device or FIFO, written in place
};

// Write pieces (a range of byte_span, e.g. authenticode::image_pieces's
// pieces()) to `target` through an output_file, one after the other: the
// file appears, complete, only once all are written.
template <class Pieces>
result<void> write_pieces(const std::filesystem::path& target, const Pieces& pieces,
                          mode_t mode = 0644) {
  UKIKIT_TRY_ASSIGN(output_file out, output_file::create(target, mode));
  for (byte_span p : pieces) UKIKIT_TRY(out.write(p));
  return out.commit();
}

// Write a whole buffer to `target` the same way.
inline result<void> write_file(const std::filesystem::path& target, byte_span data,
                               mode_t mode = 0644) {
  return write_pieces(target, std::array<byte_span, 1>{data}, mode);
}

} // namespace ukikit::file
