// recipe_fuzzer: the image build recipe reader (installer/recipe.hpp). The
// INI layer must read back what it read, written out again; the recipe
// layer must never crash, and its errors point inside the input.
#include <ukikit/installer/recipe.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using ukikit::installer::detail::ini_reader;
using ukikit::installer::detail::ini_section;

// The sections as text again: continuation lines indented under their key.
std::string write_back(const std::vector<ini_section>& sections) {
  std::string out;
  for (const auto& s : sections) {
    out += "[" + s.name + "]\n";
    for (const auto& e : s.entries) {
      out += e.key + "=";
      for (char c : e.value) out += c == '\n' ? std::string("\n  ") : std::string(1, c);
      out += '\n';
    }
  }
  return out;
}

void check_ini(std::string_view text) {
  ini_reader reader;
  auto sections = reader.read(text);
  if (!sections) {
    const auto& e = sections.error();
    if (e.has_offset() && e.offset() > text.size()) __builtin_trap();
    return;
  }
  for (const auto& s : *sections) {
    if (s.name.empty() || s.pos.line == 0 || s.pos.offset >= text.size()) __builtin_trap();
    for (const auto& e : s.entries) {
      if (e.key.empty() || e.key.find('=') != std::string::npos) __builtin_trap();
      if (e.pos.offset >= text.size() || e.pos.line < s.pos.line) __builtin_trap();
      // Stripped, but for the '\n' before the continuation of an empty first line
      // (configparser's too).
      if (!e.value.empty() &&
          ((e.value.front() != '\n' && ukikit::installer::detail::is_py_space(e.value.front())) ||
           ukikit::installer::detail::is_py_space(e.value.back())))
        __builtin_trap();
    }
  }
  const std::string again_text = write_back(*sections);
  ini_reader again_reader;
  auto again = again_reader.read(again_text);
  if (!again || again->size() != sections->size()) __builtin_trap();
  for (std::size_t i = 0; i < again->size(); ++i) {
    const auto& a = (*again)[i];
    const auto& b = (*sections)[i];
    if (a.name != b.name || a.entries.size() != b.entries.size()) __builtin_trap();
    for (std::size_t j = 0; j < a.entries.size(); ++j)
      if (a.entries[j].key != b.entries[j].key || a.entries[j].value != b.entries[j].value)
        __builtin_trap();
  }
}

void check_recipe(std::string_view text) {
  auto r = ukikit::installer::parse_recipe(text, "/fuzz");
  if (!r) {
    const auto& e = r.error();
    if (e.has_offset() && e.offset() > text.size()) __builtin_trap();
    return;
  }
  for (const auto& a : r->arches)
    if (!ukikit::installer::pe_machine(a.arch)) __builtin_trap();
  for (const auto& f : r->findings)
    if (f.code != ukikit::installer::code::recipe_key_ignored) __builtin_trap();
  auto arches = ukikit::installer::resolve(*r);
  if (!arches) return;
  for (const auto& a : *arches) {
    if (a.kernel.empty() || a.systemd_boot.empty()) __builtin_trap();
    if (a.signing_key.has_value() != a.signing_cert.has_value()) __builtin_trap();
    if (ukikit::installer::efi_arch(a.arch) != a.efi_arch) __builtin_trap();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_ini(text);
  check_recipe(text);
  return 0;
}
