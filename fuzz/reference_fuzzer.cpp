// reference_fuzzer: image references as the command line spells them
// (image/reference.hpp) and the ref.name tag grammar. An accepted reference
// must spell itself back (text()) so that parsing that text gives the same
// reference; a tag it accepts must match the image-layout grammar.
#include <ukikit/image/reference.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ukikit::image;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)detail::valid_ref_name(text);
  for (std::string_view prefix : {"oci:", "oci-archive:", "docker-archive:"}) {
    if (!text.starts_with(prefix)) continue;
    auto r = parse_reference(text);
    if (!r) return 0;
    if (r->path.empty()) __builtin_trap();
    const bool by_index =
        r->transport == transport::docker_archive && !r->tag.empty() && r->tag.front() == '@';
    if (!r->tag.empty() && !by_index && !detail::valid_ref_name(r->tag)) __builtin_trap();
    auto again = parse_reference(r->text());
    if (!again || again->path != r->path || again->tag != r->tag ||
        again->transport != r->transport)
      __builtin_trap();
  }
  return 0;
}
