// Writing cpio archives: newc, and crc with the byte sum of each file.
//
// The writer is the low level: it emits entries exactly as given, in order,
// each header field as 8 hex digits, padding zeroed, and TRAILER!!! at the
// end. Deterministic archives (sorted names, fixed owners and times,
// renumbered inodes) are the job of the caller that plans the entries; see
// initrd/create.hpp. Options follow gen_init_cpio: `data_align` pads the name
// field with NULs (counted in namesize) so that file data starts at a
// multiple of it, and the archive may be padded to a block size at the end.
//
// Each entry is planned first (entry_end() says where it ends) and, as
// systemd's src/boot/cpio.c asserts, the bytes written are checked against
// the plan afterwards: a mismatch is an error, never a silently shifted
// archive.
#pragma once

#include "bytes.hpp"
#include "compress/common.hpp"
#include "cpio.hpp"
#include "result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace ukikit::cpio {

// The largest value of a newc header field (8 hex digits).
inline constexpr std::uint64_t max_field = 0xffffffffu;

struct write_options {
  format fmt = format::newc; // newc or crc
  // gen_init_cpio -a: align file data to this many bytes (a multiple of 4;
  // 0 for none) by padding the name, within PATH_MAX.
  std::uint64_t data_align = 0;
  // Pad the end of the archive with zeros to a multiple of this (GNU cpio
  // uses 512, systemd-stub none); 0 for none.
  std::uint64_t block_size = 0;
};

// What a header says about an entry; the writer fills in namesize, filesize
// and check.
struct entry_fields {
  std::uint64_t ino = 0;
  std::uint64_t mode = 0;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t nlink = 1;
  std::uint64_t mtime = 0;
  std::uint64_t dev_major = 0;
  std::uint64_t dev_minor = 0;
  std::uint64_t rdev_major = 0;
  std::uint64_t rdev_minor = 0;
};

class writer {
public:
  // `sink` receives the archive bytes; it must outlive the writer.
  static result<writer> create(const write_options& options, compress::sink_ref sink) {
    if (options.fmt != format::newc && options.fmt != format::crc) {
      return error(errc::invalid_argument, "cpio writer writes newc and crc only (not " +
                                               std::string(name(options.fmt)) + ")");
    }
    if (options.data_align % 4 != 0 || options.data_align > path_max) {
      return error(errc::invalid_argument,
                   "data alignment must be a multiple of 4 up to 4096 (got " +
                       std::to_string(options.data_align) + ")");
    }
    return writer(options, sink);
  }

  // One entry. `data` is the file data or the symlink target; empty for
  // other types. The name TRAILER!!! is refused: the kernel ends the
  // archive at it (a symlink aside) and GNU cpio at any entry so named, so
  // what followed would be lost.
  result<void> add(std::string_view entry_name, const entry_fields& f, byte_span data) {
    if (finished_) return error(errc::invalid_argument, "cpio archive already finished");
    if (entry_name == trailer_name)
      return error(errc::invalid_argument,
                   "cpio entry name TRAILER!!! would end the archive there");
    return add_entry(entry_name, f, data);
  }

  // Writes TRAILER!!! and the block padding.
  result<void> finish() {
    if (finished_) return error(errc::invalid_argument, "cpio archive already finished");
    entry_fields f;
    f.nlink = 1;
    UKIKIT_TRY(add_entry(trailer_name, f, {}));
    if (options_.block_size > 0) UKIKIT_TRY(zeros(detail::pad(written_, options_.block_size)));
    finished_ = true;
    return success();
  }

  std::uint64_t written() const noexcept { return written_; }

  // Where an entry that starts at `at` ends (its next header, 4-aligned),
  // with a name of `name_length` bytes and `data_size` bytes of data: the
  // plan the writer checks itself against, for callers that plan a whole
  // archive (the trailer is an entry with name_length 10 and no data).
  static std::uint64_t entry_end(std::uint64_t at, std::uint64_t name_length,
                                 std::uint64_t data_size, std::uint64_t mode,
                                 const write_options& options) noexcept {
    const std::uint64_t name_end =
        at + detail::newc_header_size + name_field(at, name_length, data_size, mode, options);
    const std::uint64_t data_at = name_end + detail::pad(name_end, 4);
    return data_at + data_size + detail::pad(data_at + data_size, 4);
  }

  // The end of an archive whose entries end at `entries_end`: the trailer,
  // then the block padding.
  static std::uint64_t archive_end(std::uint64_t entries_end,
                                   const write_options& options) noexcept {
    const std::uint64_t end = entry_end(entries_end, trailer_name.size(), 0, 0, options);
    return options.block_size > 0 ? end + detail::pad(end, options.block_size) : end;
  }

private:
  writer(const write_options& options, compress::sink_ref sink) : options_(options), sink_(sink) {}

  result<void> add_entry(std::string_view entry_name, const entry_fields& f, byte_span data) {
    UKIKIT_TRY(check_name(entry_name));
    const std::pair<std::string_view, std::uint64_t> fields[] = {{"size", data.size()},
                                                                 {"inode", f.ino},
                                                                 {"mode", f.mode},
                                                                 {"uid", f.uid},
                                                                 {"gid", f.gid},
                                                                 {"nlink", f.nlink},
                                                                 {"mtime", f.mtime},
                                                                 {"dev major", f.dev_major},
                                                                 {"dev minor", f.dev_minor},
                                                                 {"rdev major", f.rdev_major},
                                                                 {"rdev minor", f.rdev_minor}};
    for (auto [field, v] : fields) {
      if (v > max_field) {
        return error(errc::limit_exceeded,
                     "cpio entry \"" + std::string(entry_name) + "\": " + std::string(field) + " " +
                         std::to_string(v) + " does not fit the 32-bit newc field");
      }
    }

    const std::uint64_t start = written_;
    const std::uint64_t namesize =
        name_field(start, entry_name.size(), data.size(), f.mode, options_);
    const std::uint64_t planned =
        entry_end(start, entry_name.size(), data.size(), f.mode, options_);
    std::uint32_t sum = 0;
    if (options_.fmt == format::crc && type_of(f.mode) == file_type::regular) {
      for (std::byte b : data) sum += std::to_integer<std::uint32_t>(b);
    }
    UKIKIT_TRY(emit_header(f, data.size(), namesize, sum));
    UKIKIT_TRY(emit(as_bytes(entry_name)));
    const std::uint64_t name_end = written_ + (namesize - entry_name.size());
    UKIKIT_TRY(zeros(namesize - entry_name.size() + detail::pad(name_end, 4)));
    UKIKIT_TRY(emit(data));
    UKIKIT_TRY(zeros(detail::pad(written_, 4)));
    if (written_ != planned) { // the post-condition: bytes written = bytes planned
      return error(errc::malformed, "cpio entry \"" + printable(entry_name) + "\": wrote " +
                                        std::to_string(written_ - start) + " bytes, planned " +
                                        std::to_string(planned - start));
    }
    return success();
  }

  // The namesize field: the name and its NUL, grown by gen_init_cpio -a
  // padding so that the data of a regular file lands aligned.
  static std::uint64_t name_field(std::uint64_t at, std::uint64_t name_length,
                                  std::uint64_t data_size, std::uint64_t mode,
                                  const write_options& options) noexcept {
    const std::uint64_t namesize = name_length + 1;
    if (options.data_align == 0 || data_size == 0 || type_of(mode) != file_type::regular)
      return namesize;
    const std::uint64_t data_at = at + detail::newc_header_size + namesize;
    const std::uint64_t aligned = data_at + detail::pad(data_at, options.data_align);
    return aligned - at - detail::newc_header_size <= path_max
               ? aligned - at - detail::newc_header_size
               : namesize;
  }

  static result<void> check_name(std::string_view n) {
    if (n.empty()) return error(errc::invalid_argument, "cpio entry name is empty");
    if (n.size() + 1 > path_max) {
      return error(errc::invalid_argument, "cpio entry name is longer than PATH_MAX (" +
                                               std::to_string(n.size()) + " bytes)");
    }
    if (n.find('\0') != std::string_view::npos)
      return error(errc::invalid_argument, "cpio entry name contains a NUL");
    return success();
  }

  result<void> emit_header(const entry_fields& f, std::uint64_t filesize, std::uint64_t namesize,
                           std::uint32_t sum) {
    std::array<char, detail::newc_header_size> h{};
    std::string_view magic = options_.fmt == format::crc ? "070702" : "070701";
    std::copy(magic.begin(), magic.end(), h.begin());
    auto put = [&h](detail::newc_field field, std::uint64_t v) {
      constexpr char digits[] = "0123456789abcdef";
      const std::size_t at = detail::magic_size + field * detail::newc_field_size;
      for (std::size_t i = 0; i < detail::newc_field_size; ++i)
        h[at + detail::newc_field_size - 1 - i] = digits[(v >> (4 * i)) & 0xf];
    };
    put(detail::newc_ino, f.ino);              // c_ino
    put(detail::newc_mode, f.mode);            // c_mode
    put(detail::newc_uid, f.uid);              // c_uid
    put(detail::newc_gid, f.gid);              // c_gid
    put(detail::newc_nlink, f.nlink);          // c_nlink
    put(detail::newc_mtime, f.mtime);          // c_mtime
    put(detail::newc_filesize, filesize);      // c_filesize
    put(detail::newc_devmajor, f.dev_major);   // c_devmajor
    put(detail::newc_devminor, f.dev_minor);   // c_devminor
    put(detail::newc_rdevmajor, f.rdev_major); // c_rdevmajor
    put(detail::newc_rdevminor, f.rdev_minor); // c_rdevminor
    put(detail::newc_namesize, namesize);      // c_namesize
    put(detail::newc_check, sum);              // c_check
    return emit(as_bytes(std::string_view(h.data(), h.size())));
  }

  result<void> emit(byte_span b) {
    if (b.empty()) return success();
    UKIKIT_TRY(sink_(b));
    written_ += b.size();
    return success();
  }

  result<void> zeros(std::uint64_t n) {
    static constexpr std::array<std::byte, 512> zero{};
    while (n > 0) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, zero.size()));
      UKIKIT_TRY(emit(byte_span(zero.data(), k)));
      n -= k;
    }
    return success();
  }

  write_options options_;
  compress::sink_ref sink_;
  std::uint64_t written_ = 0;
  bool finished_ = false;
};

} // namespace ukikit::cpio
