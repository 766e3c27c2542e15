// image_source_fuzzer: an archive in memory read as an image store, the way
// `ukikit image inspect` reads an oci-archive or a docker-archive file:
//  - image::files::archive_view indexes the tar (names normalized, `..`,
//    absolute and duplicate members refused, links resolved inside);
//  - image::source::from_files reads it as an oci-archive and again as a
//    docker-archive (oci-layout, index.json or manifest.json, strictly);
//  - report::inspect_image walks every selected entry down to the layers,
//    each decompressed with a small output limit, and writes its JSON and
//    text.
// Nothing may crash; every blob the source hands out must be a view inside
// the input, and the report's JSON must dump.
#include <ukikit/image/files.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/report/image.hpp>
#include <ukikit/report/json.hpp>

#include <cstddef>
#include <cstdint>

namespace {

using namespace ukikit;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void inspect(byte_span input, image::transport how) {
  auto f = image::files::archive_view(input);
  if (!f) return;
  for (const auto& name : f->names()) {
    auto got = f->find(name);
    check(got.ok() && got->has_value());
    const byte_span b = **got;
    check(b.empty() ||
          (b.data() >= input.data() && b.data() + b.size() <= input.data() + input.size()));
  }
  image::reference ref;
  ref.transport = how;
  ref.path = "fuzz.tar";
  image::source_options so;
  so.mode = strictness::permissive;
  auto src = image::source::from_files(std::move(*f), ref, so);
  if (!src) return;
  report::image_options io;
  io.layer.max_size = 1 << 20;
  const auto rep = report::inspect_image(*src, io);
  const std::string json = report::json_text(report::to_json(rep));
  const std::string text = report::image_text(rep);
  check(!json.empty() && !text.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span input(reinterpret_cast<const std::byte*>(data), size);
  inspect(input, image::transport::oci_archive);
  inspect(input, image::transport::docker_archive);
  return 0;
}
