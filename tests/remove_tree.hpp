// remove_tree for the extraction tests and extract_fuzzer (which links only
// the library, not the test support): deletes what an extraction made,
// read-only directories included.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ukikit::test {

// Removes a tree without following symlinks and without full paths (it may
// be deeper than PATH_MAX allows to name), holding two descriptors at most.
inline void remove_tree(const std::string& root) {
  int cur = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cur < 0) return;
  std::vector<std::string> down; // names from root to cur
  for (;;) {
    DIR* d = ::fdopendir(::dup(cur));
    if (!d) break;
    std::string child;
    while (dirent* ent = ::readdir(d)) {
      std::string_view n = ent->d_name;
      if (n == "." || n == "..") continue;
      struct stat st {};
      if (::fstatat(cur, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        child = n;
        break;
      }
      ::unlinkat(cur, ent->d_name, 0);
    }
    ::closedir(d);
    if (!child.empty()) {
      ::fchmodat(cur, child.c_str(), 0700, 0); // a read-only directory from the archive
      int next = ::openat(cur, child.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) break;
      ::close(cur);
      cur = next;
      down.push_back(child);
      continue;
    }
    if (down.empty()) break;
    int up = ::openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::close(cur);
    cur = up;
    if (cur < 0 || ::unlinkat(cur, down.back().c_str(), AT_REMOVEDIR) != 0) break;
    down.pop_back();
  }
  if (cur >= 0) ::close(cur);
  ::rmdir(root.c_str());
}

} // namespace ukikit::test
