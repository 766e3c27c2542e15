// What the image tests share: an image made by umoci, and reading what
// `ukikit image inspect --json` and the stores' JSON files say.
#pragma once

#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace ukikit::test::image_fixture {

namespace t = ukikit::test;
using nlohmann::json;

inline std::string q(const t::fs::path& p) { return t::sh_quote(p.string()); }

inline std::string sha256_of(const t::fs::path& p) {
  auto r = t::run("sha256sum < " + q(p) + " | cut -c1-64");
  EXPECT_EQ(r.status, 0);
  return "sha256:" + r.out.substr(0, 64);
}

inline std::string blob_path(const t::fs::path& layout, const std::string& digest) {
  return (layout / "blobs/sha256" / digest.substr(7)).string();
}

// An image made by umoci: one gzip layer from a small tree, an entrypoint,
// the given architecture, tag `t`.
inline void make_umoci_image(const t::fs::path& dir, const std::string& arch = "arm64") {
  t::fs::create_directories(dir / "tree/usr/bin");
  t::write_file(dir / "tree/usr/bin/x", "hello\n");
  t::fs::create_symlink("x", dir / "tree/usr/bin/y");
  const auto layout = dir / "L";
  ASSERT_EQ(t::run("tar --sort=name -cf " + q(dir / "layer.tar") + " -C " + q(dir / "tree") +
                   " . && umoci init --layout " + q(layout) + " && umoci new --image " +
                   q(layout) + ":t && umoci config --image " + q(layout) +
                   ":t --config.entrypoint /bin/x --architecture " + arch +
                   " && umoci raw add-layer --image " + q(layout) + ":t " + q(dir / "layer.tar"))
                .status,
            0);
}

inline json inspect_json(const std::string& ref, int want_status = 0) {
  auto r = t::detail::run_any_status(t::tool("ukikit") + " image inspect --json " +
                                     t::sh_quote(ref) + " 2>/dev/null");
  EXPECT_EQ(r.status, want_status) << ref;
  return json::parse(r.out);
}

inline json file_json(const t::fs::path& p) {
  auto bytes = t::read_file(p);
  return json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

inline bool has_code(const json& j, std::string_view code) {
  for (const auto& f : j["findings"])
    if (f["code"] == code) return true;
  return false;
}

} // namespace ukikit::test::image_fixture
