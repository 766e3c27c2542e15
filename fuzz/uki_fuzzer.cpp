// uki_fuzzer: a PE parsed as a UKI: the view, every profile's resolution and
// its duplicates, every text section through its parser, and the kernel
// facts of .linux, the stub's identity, and the inspect report without
// hashes and its JSON; the cmdline and uname parsers also run on the raw
// input.
#include <ukikit/pe.hpp>
#include <ukikit/report.hpp>
#include <ukikit/uki.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using namespace ukikit;

volatile std::size_t sink = 0;

void parse_text(const uki::section_entry& e) {
  using uki::section_kind;
  const pe::section& s = *e.section;
  switch (*e.kind) {
  case section_kind::osrel:
    if (auto r = uki::parse_os_release(s)) sink = sink + r->entries.size();
    break;
  case section_kind::cmdline:
    if (auto r = uki::parse_cmdline(s)) sink = sink + r->words.size();
    break;
  case section_kind::uname:
    if (auto r = uki::parse_uname(s)) sink = sink + r->release.size();
    break;
  case section_kind::sbat:
    if (auto r = uki::parse_sbat(s)) sink = sink + r->entries.size();
    break;
  case section_kind::profile:
    if (auto r = uki::parse_profile(s)) sink = sink + r->fields.entries.size();
    break;
  case section_kind::linux_: {
    uki::kernel_options options;
    options.max_decompressed = std::uint64_t{1} << 20;
    if (auto r = uki::kernel_facts(s.data(), options)) sink = sink + r->versions.size();
    break;
  }
  default: break;
  }
}

// Every chosen section comes from the base or the selected profile, and the
// profile's own sections win.
void check(const uki::view& v, const uki::resolution& r, std::size_t n) {
  for (std::size_t k = 0; k < uki::section_kind_count; ++k) {
    const auto all = r.all(static_cast<uki::section_kind>(k));
    if (all.size() > 1 && !uki::multiple_allowed(static_cast<uki::section_kind>(k)))
      __builtin_trap();
    for (const auto& e : all) {
      if (e.profile && *e.profile != n) __builtin_trap();
      if (index_of(*e.kind) != k) __builtin_trap();
      if (e.index >= v.sections().size() || v.sections()[e.index].section != e.section)
        __builtin_trap();
    }
  }
  for (const auto& d : r.duplicates)
    if (d.used.index >= d.ignored.index || d.used.profile != d.ignored.profile ||
        d.used.kind != d.ignored.kind)
      __builtin_trap();
}

void exercise_pe(byte_span in) {
  auto img = pe::parse(in, pe::strictness::permissive);
  if (!img) return;
  uki::view v(*img);
  sink = sink + v.is_uki() + v.is_addon() + v.findings().size();
  const std::size_t profiles =
      std::min<std::size_t>(std::max<std::size_t>(v.profile_count(), 1), 8);
  for (std::size_t n = 0; n < profiles; ++n) {
    auto r = v.resolve(n);
    if (!r) __builtin_trap(); // every existing profile (and @0) resolves
    check(v, *r, n);
  }
  if (v.resolve(v.profile_count() + 1)) __builtin_trap();
  for (const auto& e : v.sections())
    if (e.kind) parse_text(e);
  // The stub's LoaderInfo: a short printable version, a release that fits.
  if (auto stub = uki::identify_stub(*img)) {
    if (stub->version.empty() || stub->version.size() > 64 || stub->release > 999999)
      __builtin_trap();
    for (char ch : stub->version)
      if (ch <= ' ' || ch > '~') __builtin_trap();
  }
  // The inspect report (without hashes: no digests, no initramfs walk) and
  // its JSON: every finding names its rule.
  report::inspect_options o;
  o.hashes = false;
  auto r = report::inspect_uki(in, o);
  if (!r) __builtin_trap(); // pe::parse accepted it above
  for (const auto& f : r->findings.kept())
    if (f.code.empty() || f.code.find('.') == std::string_view::npos) __builtin_trap();
  if (r->warnings().size() > r->findings.kept().size() + 1) __builtin_trap();
  sink = sink + report::json_text(report::to_json(*r)).size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  exercise_pe(in);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto c = uki::parse_cmdline(text)) {
    for (const auto& w : c->words)
      if (w.raw.empty() || w.raw.data() < text.data() ||
          w.raw.data() + w.raw.size() > text.data() + text.size())
        __builtin_trap();
    if (c->text.size() > c->raw.size()) __builtin_trap();
    // What the stub hands over has no control characters and no whitespace
    // at either end.
    for (char ch : c->text)
      if (uki::detail::stub_whitespace(ch) && ch != ' ') __builtin_trap();
    if (!c->text.empty() && (c->text.front() == ' ' || c->text.back() == ' ')) __builtin_trap();
  }
  if (auto u = uki::parse_uname(text, uki::strictness::strict))
    if (u->release.empty() || u->release.size() > uki::max_uname_length) __builtin_trap();
  return 0;
}
