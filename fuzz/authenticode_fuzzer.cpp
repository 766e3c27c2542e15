// authenticode_fuzzer: the certificate-table walk with PKCS#7 parsing and
// verification (against an empty trust store), and the same parsers on the
// raw input as a detached PKCS#7 blob and as EFI signature lists.
#include <ukikit/authenticode.hpp>
#include <ukikit/pe.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ukikit;
  byte_span in(reinterpret_cast<const std::byte*>(data), size);

  if (auto img = pe::parse(in, pe::strictness::permissive)) {
    auto walk = authenticode::walk_certificate_table(*img);
    for (const auto& e : walk.entries) {
      if (e.payload.data() < in.data() ||
          e.payload.data() + e.payload.size() > in.data() + in.size())
        __builtin_trap(); // entries are views into the input
      (void)authenticode::parse_signature(e);
    }
    authenticode::signature_database none;
    auto report = authenticode::verify(*img, none);
    if (report.passed()) __builtin_trap(); // nothing can chain to an empty trust store
  }

  pe::certificate_entry blob;
  blob.type = pe::win_cert_type_pkcs_signed_data;
  blob.payload = in;
  if (auto s = authenticode::parse_signature(blob)) (void)authenticode::check_signature(in);
  (void)authenticode::parse_indirect_data(in);
  (void)authenticode::parse_signature_lists(in);
  return 0;
}
