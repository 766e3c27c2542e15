// `ukikit genkey`: a Secure Boot signing key and certificate and PCR key
// pairs, as `ukify genkey` makes them, with ukify's option names. Nothing is
// overwritten: when any output exists, nothing is written.
#pragma once

#include "cli.hpp"

#include <ukikit/file.hpp>
#include <ukikit/genkey.hpp>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <netdb.h>
#include <unistd.h>

namespace ukikit::cli {

struct genkey_options {
  std::string sb_key, sb_cert, pcr_key, pcr_pub, common_name;
  unsigned validity = genkey::default_validity_days;
};

// The host's fully qualified name as ukify takes it (Python's
// socket.getfqdn()): the host name's address looked up in reverse, the first
// of its names that has a dot, else its primary name; the host name when the
// lookups fail.
inline std::string fqdn() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "localhost";
  const hostent* byname = ::gethostbyname(host);
  if (byname == nullptr || byname->h_addr_list[0] == nullptr) return host;
  const hostent* byaddr = ::gethostbyaddr(
      byname->h_addr_list[0], static_cast<socklen_t>(byname->h_length), byname->h_addrtype);
  if (byaddr == nullptr || byaddr->h_name == nullptr) return host;
  if (std::string_view(byaddr->h_name).find('.') != std::string_view::npos) return byaddr->h_name;
  for (char** alias = byaddr->h_aliases; alias != nullptr && *alias != nullptr; ++alias)
    if (std::string_view(*alias).find('.') != std::string_view::npos) return *alias;
  return byaddr->h_name;
}

inline result<void> run_genkey(const genkey_options& o) {
  if (o.sb_key.empty() && o.pcr_key.empty())
    return error(errc::invalid_argument,
                 "genkey: --secureboot-private-key and --secureboot-certificate, or "
                 "--pcr-private-key (with --pcr-public-key), must be given");
  struct output {
    std::string path, text, what;
    mode_t mode;
  };
  std::vector<output> outputs;
  if (!o.sb_key.empty()) {
    UKIKIT_TRY_ASSIGN(auto key, genkey::rsa_key());
    const std::string cn =
        o.common_name.empty() ? genkey::secure_boot_common_name(fqdn()) : o.common_name;
    UKIKIT_TRY_ASSIGN(auto cert,
                      genkey::self_signed(key.get(), cn, o.validity, std::time(nullptr)));
    UKIKIT_TRY_ASSIGN(auto key_pem, genkey::private_key_pem(key.get()));
    UKIKIT_TRY_ASSIGN(auto cert_pem, genkey::certificate_pem(cert.get()));
    outputs.push_back({o.sb_key, std::move(key_pem), "SecureBoot private key", 0600});
    outputs.push_back({o.sb_cert, std::move(cert_pem), "SecureBoot certificate", 0644});
  }
  if (!o.pcr_key.empty()) {
    UKIKIT_TRY_ASSIGN(auto key, genkey::rsa_key());
    UKIKIT_TRY_ASSIGN(auto key_pem, genkey::private_key_pem(key.get()));
    outputs.push_back({o.pcr_key, std::move(key_pem), "private key for PCR signing", 0600});
    if (!o.pcr_pub.empty()) {
      UKIKIT_TRY_ASSIGN(auto pub_pem, genkey::public_key_pem(key.get()));
      outputs.push_back({o.pcr_pub, std::move(pub_pem), "public key for PCR signing", 0644});
    }
  }
  for (const auto& out : outputs) {
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(out.path, ec)))
      return error(errc::invalid_argument,
                   out.path + " already exists; genkey overwrites nothing (nothing was written)");
  }
  for (const auto& out : outputs) {
    std::cout << "Writing " << out.what << " to " << escape_controls(out.path) << '\n';
    UKIKIT_TRY(file::write_file(out.path, as_bytes(out.text), out.mode));
  }
  return success();
}

inline void add_genkey_command(CLI::App& app, genkey_options& o, int& rc) {
  auto* cmd = app.add_subcommand(
      "genkey", "Make a Secure Boot signing key and certificate and a PCR key pair, as ukify "
                "genkey does (RSA 2048); existing files are never overwritten");
  auto* key = cmd->add_option("--secureboot-private-key,--signing-key", o.sb_key,
                              "Write a new Secure Boot signing key (RSA 2048, PEM) here");
  auto* cert = cmd->add_option("--secureboot-certificate,--signing-cert", o.sb_cert,
                               "Write its self-signed certificate (SHA-256, CA:FALSE) here");
  key->needs(cert);
  cert->needs(key);
  cmd->add_option("--secureboot-certificate-validity", o.validity,
                  "Days the certificate is valid from now (default 3650)")
      ->check(CLI::Range(1u, 36500u));
  cmd->add_option("--common-name", o.common_name,
                  "The certificate's CN (default ukify's: \"SecureBoot signing key on host "
                  "FQDN\")")
      ->needs(cert);
  auto* pcr = cmd->add_option("--pcr-private-key", o.pcr_key,
                              "Write a new PCR signing key (RSA 2048, PEM) here");
  cmd->add_option("--pcr-public-key", o.pcr_pub, "Write its public key (PEM) here")->needs(pcr);
  cmd->callback([&o, &rc] {
    auto r = run_genkey(o);
    rc = r ? exit_ok : report("ukikit genkey", r.error());
  });
}

} // namespace ukikit::cli
