// sbat_fuzzer: the SBAT CSV parser in both modes, with the properties every
// accepted table must have; and the same bytes as an SbatLevel policy
// (parse_sbat_level), checked against the table by sbat_revoked.
#include <ukikit/uki.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

void exercise(std::string_view text, ukikit::uki::strictness mode) {
  using namespace ukikit::uki;
  constexpr std::uint64_t base = 0x11000;
  auto parsed = parse_sbat(text, mode, base);
  if (!parsed) {
    if (parsed.error().offset() < base || parsed.error().offset() > base + text.size())
      __builtin_trap();
    return;
  }
  if (parsed->entries.empty()) __builtin_trap();
  for (const auto& f : parsed->findings.kept()) {
    if (mode == strictness::strict && f.level != ukikit::severity::note) __builtin_trap();
    if (!f.code.starts_with("uki.sbat-")) __builtin_trap();
    if (f.offset < base || f.offset > base + text.size()) __builtin_trap();
  }
  if (parsed->entries[0].component_name != "sbat" || parsed->entries[0].component_generation != 1)
    __builtin_trap();
  // Rows come in order: offsets grow; line numbers (counted by LF, while
  // a CR also ends a row) never shrink.
  std::size_t line = 1;
  std::uint64_t offset = 0;
  for (const auto& e : parsed->entries) {
    if (e.component_generation == 0 || e.line < line || (offset && e.offset <= offset))
      __builtin_trap();
    line = e.line;
    offset = e.offset;
    for (std::string_view f :
         {e.component_name, e.vendor_name, e.vendor_package_name, e.vendor_version, e.vendor_url}) {
      if (f.empty() || f.find(',') != std::string_view::npos ||
          f.find('\n') != std::string_view::npos)
        __builtin_trap();
      // Every field is a view into the input.
      if (f.data() < text.data() || f.data() + f.size() > text.data() + text.size())
        __builtin_trap();
    }
    if (e.offset < base || e.offset >= base + text.size()) __builtin_trap();
  }
  // Written back as plain CSV, the rows read back the same.
  std::string csv;
  for (const auto& e : parsed->entries)
    csv += std::string(e.component_name) + "," + std::to_string(e.component_generation) + "," +
           std::string(e.vendor_name) + "," + std::string(e.vendor_package_name) + "," +
           std::string(e.vendor_version) + "," + std::string(e.vendor_url) + "\n";
  auto again = parse_sbat(csv, strictness::permissive);
  if (!again || again->entries.size() != parsed->entries.size()) __builtin_trap();
  for (std::size_t i = 0; i < again->entries.size(); ++i) {
    const auto &a = again->entries[i], &b = parsed->entries[i];
    if (a.component_name != b.component_name || a.component_generation != b.component_generation ||
        a.vendor_name != b.vendor_name || a.vendor_package_name != b.vendor_package_name ||
        a.vendor_version != b.vendor_version || a.vendor_url != b.vendor_url)
      __builtin_trap();
  }
}

// The input as an SbatLevel policy: rows are views into it, the first is
// sbat,1, generations are > 0; what sbat_revoked returns is a row of each
// with the same name and a lower image generation, and every such pair.
void exercise_level(std::string_view text) {
  using namespace ukikit::uki;
  auto level = parse_sbat_level(text);
  if (!level) return;
  if (level->entries.empty() || level->entries[0].component_name != "sbat" ||
      level->entries[0].component_generation != 1)
    __builtin_trap();
  for (const auto& e : level->entries) {
    if (e.component_name.empty() || e.component_generation == 0 ||
        e.component_name.find_first_of(",\r\n") != std::string_view::npos)
      __builtin_trap();
    if (e.component_name.data() < text.data() ||
        e.component_name.data() + e.component_name.size() > text.data() + text.size())
      __builtin_trap();
  }
  static const std::string image_text =
      "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
      "systemd,1,The systemd Developers,systemd,252,https://systemd.io/\n"
      "grub,3,Free Software Foundation,grub,2.06,https://www.gnu.org/software/grub/\n";
  auto image = parse_sbat(image_text);
  if (!image) __builtin_trap();
  std::size_t pairs = 0;
  for (const auto& p : level->entries)
    for (const auto& e : image->entries)
      if (p.component_name == e.component_name && e.component_generation < p.component_generation)
        ++pairs;
  const auto revoked = sbat_revoked(*image, *level);
  if (revoked.size() != pairs) __builtin_trap();
  for (const auto& r : revoked)
    if (r.image_row->component_name != r.policy_row->component_name ||
        r.image_row->component_generation >= r.policy_row->component_generation)
      __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  exercise(text, ukikit::uki::strictness::strict);
  exercise(text, ukikit::uki::strictness::permissive);
  exercise_level(text);
  return 0;
}
