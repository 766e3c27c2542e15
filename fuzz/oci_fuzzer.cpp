// oci_fuzzer: every OCI parser (descriptor, index, manifest, either, config,
// oci-layout)
// and the strict JSON reader on the input, strict and permissive. What one
// accepts is written back, and the written JSON must be accepted again, read
// as an equal model, and written again byte for byte the same. A digest in
// the input's text form must print back as itself. The seeds
// (fuzz/make_oci_corpus.sh) are the image-spec's examples and JSON that
// umoci and skopeo write.
#include <ukikit/json.hpp>
#include <ukikit/oci.hpp>
#include <ukikit/oci_writer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace ukikit;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Messages go into JSON reports: they must be valid UTF-8.
template <class R> void check_messages(const R& r, const finding_log& log) {
  if (!r.ok()) check(json::detail::utf8_valid(r.error().message()));
  for (const auto& f : log) check(json::detail::utf8_valid(f.text()));
}

// A model written and read back must be equal, and written the same again.
template <class T, class Parse> void round_trip(const T& model, Parse parse) {
  const std::string text = oci::serialize(model);
  finding_log log;
  auto back = parse(as_bytes(text), log);
  check(back.ok());
  check(back->value == model);
  check(oci::serialize(back->value) == text);
  check(back->size == static_cast<std::int64_t>(text.size()));
}

void run_parsers(byte_span data, const oci::parse_options& opt) {
  finding_log log;
  check_messages(oci::parse_descriptor(data, log, opt), log);
  check_messages(oci::parse_config(data, log, opt), log);
  check_messages(oci::parse_manifest_or_index(data, log, opt), log);
  if (auto d = oci::parse_descriptor(data, log, opt)) {
    round_trip(d->value, [](byte_span b, finding_log& l) { return oci::parse_descriptor(b, l); });
    if (d->value.data)
      check(oci::verify(d->value, *d->value.data).ok() || !d->value.digest.verifiable());
  }
  if (auto h = oci::parse_layout_header(data, log, opt))
    round_trip(h->value,
               [](byte_span b, finding_log& l) { return oci::parse_layout_header(b, l); });
  if (auto c = oci::parse_config(data, log, opt))
    round_trip(c->value, [](byte_span b, finding_log& l) { return oci::parse_config(b, l); });

  auto any = oci::parse_manifest_or_index(data, log, opt);
  auto m = oci::parse_manifest(data, log, opt);
  auto i = oci::parse_index(data, log, opt);
  // parse_manifest_or_index accepts exactly what one of the two accepts.
  check(any.ok() == (m.ok() || i.ok()));
  check(!(m.ok() && i.ok()));
  if (m.ok()) {
    check(std::holds_alternative<oci::manifest>(any->value));
    oci::parse_options written = opt;
    written.mode = strictness::strict;
    round_trip(m->value,
               [&](byte_span b, finding_log& l) { return oci::parse_manifest(b, l, written); });
  }
  if (i.ok()) {
    check(std::holds_alternative<oci::index>(any->value));
    round_trip(i->value, [](byte_span b, finding_log& l) { return oci::parse_index(b, l); });
  }
  // The bytes fetched by a descriptor that names them: the same verdict.
  if (any.ok()) {
    oci::descriptor self;
    self.media_type = std::visit([](const auto& v) { return v.media_type; }, any->value);
    if (self.media_type.empty())
      self.media_type = std::holds_alternative<oci::index>(any->value) ? oci::media_type::index
                                                                       : oci::media_type::manifest;
    self.digest = any->digest;
    self.size = any->size;
    oci::parse_options described = opt;
    described.described_by = &self;
    auto again = oci::parse_manifest_or_index(data, log, described);
    check(again.ok());
    check(again->value == any->value);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span bytes(reinterpret_cast<const std::byte*>(data), size);

  auto parsed = json::parse(bytes);
  if (!parsed) check(json::detail::utf8_valid(parsed.error().message()));
  if (auto v = json::parse(bytes)) {
    const std::string text = json::dump(*v);
    auto back = json::parse(text);
    check(back.ok());
    check(*back == *v);
    check(json::dump(*back) == text);
  }

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto digest = oci::digest::parse(text);
  if (!digest) check(json::detail::utf8_valid(digest.error().message()));
  if (auto d = oci::digest::parse(text)) {
    check(d->str() == text);
    check(oci::digest::parse(d->str()).ok());
    check(d->blob_path().find("..") == std::string::npos);
  }

  oci::parse_options strict;
  run_parsers(bytes, strict);
  oci::parse_options permissive;
  permissive.mode = strictness::permissive;
  run_parsers(bytes, permissive);
  return 0;
}
