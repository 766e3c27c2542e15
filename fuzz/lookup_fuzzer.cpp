// lookup_fuzzer: the final tree of a stack of tar layers (image/lookup.hpp),
// raw or compressed, never extracted. The first input byte chooses the
// number of layers (1 + bits 0-1); for every layer but the last, two bytes
// (big endian) give its length in 512-byte blocks; the rest is the layer
// bytes. Each input is applied twice: once keeping the queried paths' bytes
// while they stream past, once decoding them again on read. Both must give
// the same answer for every query, and a regular file's bytes must have the
// size its entry said.
#include <ukikit/image/lookup.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using ukikit::byte_span;
namespace image = ukikit::image;

// Larger inputs are ignored: a run stays quick.
constexpr std::size_t max_input = 1 << 20;

const std::vector<std::string> queries = {
    "a", "a/b", "d/f", "l", "l/b", "/x/../a", "usr/install/amd64/vmlinuz.efi", "h", "s/b",
};

std::string answer(const image::layer_tree& t, const std::string& path) {
  auto r = t.read(path);
  if (!r) return "error";
  if (!*r) return "none";
  const auto& d = **r;
  const byte_span b = d.bytes();
  if (b.size() != d.info.size) std::abort(); // the bytes are not the entry's
  return d.info.path + "=" + std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > max_input) return 0;
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  const std::size_t count = 1 + (data[0] & 3u);
  std::size_t at = 1;
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i + 1 < count; ++i) {
    if (at + 2 > size) return 0;
    lengths.push_back((std::size_t{data[at]} << 8 | data[at + 1]) * 512);
    at += 2;
  }
  std::vector<byte_span> layers;
  for (std::size_t len : lengths) {
    const std::size_t n = len < size - at ? len : size - at;
    layers.emplace_back(bytes + at, n);
    at += n;
  }
  layers.emplace_back(bytes + at, size - at);

  image::lookup_options o;
  o.max_layer_size = 4 << 20;
  o.max_file_size = 64 << 10;
  auto kept = image::layer_tree::build(layers, o, queries);
  auto again = image::layer_tree::build(layers, o);
  if (!kept || !again) std::abort(); // only a hash that cannot be set up fails a build
  for (const auto& q : queries) {
    if (answer(*kept, q) != answer(*again, q)) std::abort();
    (void)kept->stat(q);
  }
  return 0;
}
