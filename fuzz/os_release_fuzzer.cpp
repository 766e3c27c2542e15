// os_release_fuzzer: the os-release and .profile parsers in both modes, with
// the properties every accepted block must have.
#include <ukikit/uki.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

bool key_ok(std::string_view k) {
  if (k.empty() || !(ukikit::uki::detail::is_alpha(k[0]) || k[0] == '_')) return false;
  for (char c : k)
    if (!ukikit::uki::detail::is_alnum(c) && c != '_') return false;
  return true;
}

// Writes entries back as KEY="VALUE" lines with $ ` " \ escaped: what was
// accepted must read back to the same entries.
void round_trip(const ukikit::uki::os_release& parsed) {
  std::string text;
  for (const auto& e : parsed.entries) {
    text += e.key + "=\"";
    for (char c : e.value) {
      if (c == '$' || c == '`' || c == '"' || c == '\\') text += '\\';
      text += c;
    }
    text += "\"\n";
  }
  auto again = ukikit::uki::parse_os_release(text, ukikit::uki::strictness::strict);
  if (!again || again->entries.size() != parsed.entries.size()) __builtin_trap();
  for (std::size_t i = 0; i < parsed.entries.size(); ++i)
    if (again->entries[i].key != parsed.entries[i].key ||
        again->entries[i].value != parsed.entries[i].value)
      __builtin_trap();
}

void exercise(std::string_view text, ukikit::uki::strictness mode) {
  using namespace ukikit::uki;
  auto parsed = parse_os_release(text, mode, 0x1000);
  if (parsed) {
    for (const auto& e : parsed->entries) {
      if (!key_ok(e.key)) __builtin_trap();
      if (e.offset < 0x1000 || e.offset - 0x1000 >= text.size()) __builtin_trap();
      if (text.substr(e.offset - 0x1000, e.key.size()) != e.key) __builtin_trap();
      if (!parsed->get(e.key)) __builtin_trap();
      if (e.value.find('\n') != std::string::npos) __builtin_trap(); // no continuations
    }
    for (const auto& f : parsed->findings.kept()) {
      // Strict mode tolerates nothing: a broken "must" is its error, not a warning.
      if (mode == strictness::strict && f.level != ukikit::severity::note) __builtin_trap();
      if (!f.code.starts_with("uki.osrel-")) __builtin_trap();
      if (f.offset < 0x1000 || f.offset > 0x1000 + text.size()) __builtin_trap();
    }
    round_trip(*parsed);
  } else if (parsed.error().offset() < 0x1000 || parsed.error().offset() > 0x1000 + text.size()) {
    __builtin_trap();
  }
  auto strict_ok = parse_os_release(text, strictness::strict).ok();
  if (strict_ok && !parse_os_release(text, strictness::permissive).ok()) __builtin_trap();
  if (auto p = parse_profile(text, mode)) {
    if (p->id && !p->fields.get("ID")) __builtin_trap();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  exercise(text, ukikit::uki::strictness::strict);
  exercise(text, ukikit::uki::strictness::permissive);
  exercise(text, ukikit::uki::strictness::kernel); // no kernel reads it: permissive
  return 0;
}
