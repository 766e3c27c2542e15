// Keys and certificates from files: what every signer (Authenticode,
// .pcrsig) loads before it signs. The bytes are mapped (file.hpp) and read
// as PEM or DER (crypto.hpp); errors name the path.
//
// keys::source says where a key lives (a file, or an OpenSSL engine's or
// provider's designation such as a PKCS#11 URI); signers take the loaded
// EVP_PKEY, so they do not care which. Keys in an HSM are used through
// OpenSSL: the pkcs11 engine (Debian's libengine-pkcs11-openssl) or a
// provider with an OSSL_STORE loader.
#pragma once

#include "crypto.hpp"
#include "file.hpp"
#include "result.hpp"

#include <openssl/engine.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::keys {

// A private key file: PEM (PKCS#8, traditional RSA/EC) or DER (PKCS#8).
inline result<crypto::pkey_ptr> load_private_key(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_private_key(f.bytes(), path.string());
}

// A public key file: PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo.
inline result<crypto::pkey_ptr> load_public_key(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_public_key(f.bytes(), path.string());
}

// The first certificate of a PEM file, or a DER certificate.
inline result<crypto::x509_ptr> load_certificate(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_certificate(f.bytes(), path.string());
}

// Every certificate of a PEM file, or one DER certificate.
inline result<std::vector<crypto::x509_ptr>> load_certificates(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_certificates(f.bytes(), path.string());
}

// Where a private key or a certificate lives. ukify's names: a path, or with
// --signing-engine/--signing-provider (--certificate-provider) a designation
// the engine or provider resolves.
struct source {
  enum class kind : std::uint8_t { file, engine, provider };
  kind where = kind::file;
  std::string location; // the path, or the engine's or provider's designation
  std::string module;   // the engine or provider; empty for a file

  static source from_file(const std::filesystem::path& p) { return {kind::file, p.string(), {}}; }
  bool is_file() const noexcept { return where == kind::file; }
  // "FILE", "engine ENGINE: KEY" or "provider PROVIDER: KEY", a PKCS#11
  // URI's PIN (pin-value=…) left out, so that messages do not show it.
  std::string describe() const {
    switch (where) {
    case kind::file: return location;
    case kind::engine: return "engine " + module + ": " + redacted(location);
    case kind::provider: return "provider " + module + ": " + redacted(location);
    }
    return location;
  }

  static std::string redacted(std::string text) {
    static constexpr std::string_view pin = "pin-value=";
    for (std::size_t at = text.find(pin); at != std::string::npos; at = text.find(pin, at + 1)) {
      const std::size_t start = at + pin.size();
      const std::size_t end = text.find_first_of(";?&", start);
      text.replace(start, (end == std::string::npos ? text.size() : end) - start, "***");
    }
    return text;
  }
};

// "file", "engine:NAME" or "provider:NAME" (systemd-sbsign's and
// systemd-measure's --private-key-source) with the key's location: a path,
// or what the engine or provider resolves (a PKCS#11 URI).
inline result<source> parse_source(std::string_view spec, std::string location) {
  if (spec == "file") return source{source::kind::file, std::move(location), {}};
  for (auto [prefix, k] : {std::pair{std::string_view("engine:"), source::kind::engine},
                           std::pair{std::string_view("provider:"), source::kind::provider}}) {
    if (spec.starts_with(prefix) && spec.size() > prefix.size())
      return source{k, std::move(location), std::string(spec.substr(prefix.size()))};
  }
  return error(errc::invalid_argument, "a key source is file, engine:NAME or provider:NAME, not '" +
                                           std::string(spec) + "'");
}

namespace detail {

// An initialised engine (a functional reference), finished and freed on
// destruction. OpenSSL 3 deprecates engines, but Debian 12's PKCS#11 route
// is one (libengine-pkcs11-openssl's "pkcs11"), so their use is kept here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class engine_ref {
public:
  static result<engine_ref> open(const std::string& name) {
    ENGINE_load_builtin_engines();
    ENGINE* e = ENGINE_by_id(name.c_str());
    if (e == nullptr)
      return crypto::openssl_error("no OpenSSL engine '" + name +
                                   "' (for PKCS#11, Debian's libengine-pkcs11-openssl provides "
                                   "'pkcs11')");
    if (ENGINE_init(e) != 1) {
      ENGINE_free(e);
      return crypto::openssl_error("the OpenSSL engine '" + name + "' does not initialise");
    }
    engine_ref r;
    r.e_ = e;
    return r;
  }
  engine_ref(engine_ref&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  engine_ref& operator=(engine_ref&&) = delete;
  ~engine_ref() {
    if (e_ != nullptr) {
      ENGINE_finish(e_);
      ENGINE_free(e_);
    }
  }
  ENGINE* get() const noexcept { return e_; }

private:
  engine_ref() = default;
  ENGINE* e_ = nullptr;
};

inline result<crypto::pkey_ptr> engine_private_key(const source& s) {
  UKIKIT_TRY_ASSIGN(auto e, engine_ref::open(s.module));
  // The key keeps its own reference to the engine.
  EVP_PKEY* k = ENGINE_load_private_key(e.get(), s.location.c_str(), nullptr, nullptr);
  if (k == nullptr)
    return crypto::openssl_error("cannot load the private key " + s.describe() +
                                 " (is the object there, and the PIN right?)");
  return crypto::pkey_ptr(k);
}

// A certificate through the engine's LOAD_CERT_CTRL command, which
// libengine-pkcs11-openssl (libp11) implements for PKCS#11 URIs.
inline result<crypto::x509_ptr> engine_certificate(const source& s) {
  UKIKIT_TRY_ASSIGN(auto e, engine_ref::open(s.module));
  struct {
    const char* id;
    X509* cert;
  } params{s.location.c_str(), nullptr};
  if (ENGINE_ctrl_cmd(e.get(), "LOAD_CERT_CTRL", 0, &params, nullptr, 0) != 1 ||
      params.cert == nullptr)
    return crypto::openssl_error("cannot load the certificate " + s.describe());
  return crypto::x509_ptr(params.cert);
}
#pragma GCC diagnostic pop

// A provider for key stores: one already available is used as it is;
// another is loaded once and stays loaded (keys keep using it) until exit,
// where it is unloaded before OpenSSL's own cleanup (whose exit handler was
// registered earlier, when OpenSSL initialised). The default provider is
// made available too: loading any provider stops OpenSSL from loading it.
struct loaded_providers {
  std::mutex lock;
  std::vector<OSSL_PROVIDER*> providers;

  static loaded_providers& get() {
    static auto* all = new loaded_providers; // lives until the exit handler
    return *all;
  }
  static void unload_all() {
    auto& all = get();
    std::lock_guard guard(all.lock);
    for (OSSL_PROVIDER* p : all.providers) OSSL_PROVIDER_unload(p);
    all.providers.clear();
  }
};

inline result<void> load_provider(const std::string& name) {
  auto& all = loaded_providers::get();
  std::lock_guard guard(all.lock);
  if (OSSL_PROVIDER_available(nullptr, name.c_str()) == 1) return success();
  OSSL_PROVIDER* p = OSSL_PROVIDER_load(nullptr, name.c_str());
  if (p == nullptr) return crypto::openssl_error("no OpenSSL provider '" + name + "'");
  if (all.providers.empty()) std::atexit(loaded_providers::unload_all);
  all.providers.push_back(p);
  return success();
}

// The first object of the wanted type that an OSSL_STORE (of the provider,
// loaded with the default one) finds at the location.
inline result<OSSL_STORE_INFO*> store_object(const source& s, int type, std::string_view what) {
  UKIKIT_TRY(load_provider(s.module));
  UKIKIT_TRY(load_provider("default"));
  OSSL_STORE_CTX* ctx = OSSL_STORE_open_ex(s.location.c_str(), nullptr, nullptr, nullptr, nullptr,
                                           nullptr, nullptr, nullptr);
  if (ctx == nullptr)
    return crypto::openssl_error("cannot open " + s.describe() + " for the " + std::string(what));
  OSSL_STORE_expect(ctx, type);
  OSSL_STORE_INFO* found = nullptr;
  while (found == nullptr && OSSL_STORE_eof(ctx) == 0) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(ctx);
    if (info == nullptr) break;
    if (OSSL_STORE_INFO_get_type(info) == type) found = info;
    else OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(ctx);
  if (found == nullptr)
    return crypto::openssl_error("no " + std::string(what) + " found at " + s.describe());
  return found;
}

inline result<crypto::pkey_ptr> provider_private_key(const source& s) {
  UKIKIT_TRY_ASSIGN(OSSL_STORE_INFO * info, store_object(s, OSSL_STORE_INFO_PKEY, "private key"));
  EVP_PKEY* k = OSSL_STORE_INFO_get1_PKEY(info);
  OSSL_STORE_INFO_free(info);
  return crypto::pkey_ptr(k);
}

inline result<crypto::x509_ptr> provider_certificate(const source& s) {
  UKIKIT_TRY_ASSIGN(OSSL_STORE_INFO * info, store_object(s, OSSL_STORE_INFO_CERT, "certificate"));
  X509* c = OSSL_STORE_INFO_get1_CERT(info);
  OSSL_STORE_INFO_free(info);
  return crypto::x509_ptr(c);
}

} // namespace detail

// A private key from a file, an engine (ENGINE_load_private_key: a PKCS#11
// URI with the pkcs11 engine, its PIN as pin-value) or a provider's store.
inline result<crypto::pkey_ptr> load_private_key(const source& s) {
  switch (s.where) {
  case source::kind::file: return load_private_key(std::filesystem::path(s.location));
  case source::kind::engine: return detail::engine_private_key(s);
  case source::kind::provider: return detail::provider_private_key(s);
  }
  return error(errc::invalid_argument, "unknown key source");
}

// A certificate from a file, an engine (LOAD_CERT_CTRL) or a provider's store.
inline result<crypto::x509_ptr> load_certificate(const source& s) {
  switch (s.where) {
  case source::kind::file: return load_certificate(std::filesystem::path(s.location));
  case source::kind::engine: return detail::engine_certificate(s);
  case source::kind::provider: return detail::provider_certificate(s);
  }
  return error(errc::invalid_argument, "unknown certificate source");
}

} // namespace ukikit::keys
