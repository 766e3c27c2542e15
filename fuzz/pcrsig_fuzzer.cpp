// pcrsig_fuzzer: .pcrsig JSON parsed; what parses is written back and must
// read back the same, and is verified in systemd and talos mode against a
// fixed public key whose private key was thrown away, so no input may pass.
//
// The seeds (fuzz/make_pcrsig_corpus.sh) are systemd-measure sign outputs for
// the sections below, some with pkfp rewritten to this key's fingerprint, so
// that verification reaches the signature check.
#include <ukikit/measure.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

// make_pcrsig_corpus.sh reads this key from here: keep the PEM lines as they are.
constexpr std::string_view public_key_pem = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq/4zHpV1Ag40L+U8lNQe
paARKMr6kK/NLBT3/MSIe9ecPKWs5gbao1000s1gKQmYbgG1egiX2ivSkzTv303T
6SaikJcAH+f+dQ0mBlQ+IQbRqPiehMZrX0htmwOKckHljQ8ln78YmiMXE/H5MRu/
SowzWhn29it/P+u4wyzBZurKM34lfesMtxCnaYK7onXpm1dkFzLC+OB+6d60tfr/
LGpP9isxQCR25xaqkPzrF4m8PT22TnNpiBbveul1Z9Z/tZgJ8Lq/aUuRTVuqza4J
dsALeUclkCGinvkTfGrS2BPo2wuz8cwNQP85iAdVEwyxm2mpazkbaupknLBJs9Zo
KwIDAQAB
-----END PUBLIC KEY-----
)";

// The sections make_pcrsig_corpus.sh signs (same bytes).
constexpr std::string_view kernel = "ukikit pcrsig fuzzer kernel\n";
constexpr std::string_view os_release = "ID=ukikit-fuzz\n";
constexpr std::string_view cmdline = "console=ttyS0";

struct fixture {
  ukikit::crypto::pkey_ptr key;
  ukikit::measure::prediction systemd; // all four banks
  ukikit::measure::prediction talos;   // sha256, sha384, sha512
};

const fixture& setup() {
  static const fixture f = [] {
    using namespace ukikit;
    const measure::section sections[] = {{".linux", as_bytes(kernel)},
                                         {".osrel", as_bytes(os_release)},
                                         {".cmdline", as_bytes(cmdline)}};
    auto key = crypto::load_public_key(as_bytes(public_key_pem));
    auto all = measure::predict(sections);
    measure::options talos_banks;
    talos_banks.banks = {hash::algorithm::sha256, hash::algorithm::sha384, hash::algorithm::sha512};
    auto talos = measure::predict(sections, talos_banks);
    if (!key || !all || !talos) __builtin_trap();
    return fixture{std::move(*key), std::move(*all), std::move(*talos)};
  }();
  return f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ukikit;
  const fixture& f = setup();
  auto doc = measure::parse_pcrsig(byte_span(reinterpret_cast<const std::byte*>(data), size));
  if (!doc) return 0;

  // What we read, we write, and read back the same (less what is ignored).
  auto again = measure::parse_pcrsig(as_bytes(measure::serialize(*doc)));
  if (!again) __builtin_trap();
  auto known = *doc;
  known.other_banks.clear();
  for (auto& b : known.banks)
    for (auto& e : b.entries) e.other_keys.clear();
  if (!(*again == known)) __builtin_trap();

  for (auto [mode, prediction] : {std::pair{measure::signature_mode::systemd, &f.systemd},
                                  std::pair{measure::signature_mode::talos, &f.talos}}) {
    auto v = measure::verify(*doc, *prediction, f.key.get(), mode);
    if (!v) __builtin_trap();      // the key is usable: only findings are possible
    if (v->ok()) __builtin_trap(); // nobody holds the private key
  }
  return 0;
}
