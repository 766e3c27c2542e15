// Image references as the command line spells them, skopeo's way:
//
//   DIR[:TAG]                  an OCI image layout directory
//   oci:DIR[:TAG]              the same, with skopeo's transport name
//   oci-archive:FILE[:TAG]     a tar of an OCI image layout
//   docker-archive:FILE[:REF]  `docker save` output (manifest.json, config
//                              and layer tars); REF is a RepoTags name
//                              (`name:tag`) or `@N`, the N-th image in it
//   docker://HOST[:PORT]/REPO[:TAG|@DIGEST]
//                              a registry (not read by this version)
//
// As containers/image does, the path ends at the first ':' after the
// transport; a bare DIR that exists as given is taken whole, so a directory
// whose name has a colon still works without a tag.
#pragma once

#include "../result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace ukikit::image {

enum class transport : std::uint8_t { layout, oci_archive, docker_archive, registry };

constexpr std::string_view transport_name(transport t) noexcept {
  switch (t) {
  case transport::layout: return "oci";
  case transport::oci_archive: return "oci-archive";
  case transport::docker_archive: return "docker-archive";
  case transport::registry: return "docker";
  }
  return "?";
}

struct reference {
  image::transport transport = transport::layout;
  std::string path; // directory or archive file; for a registry, HOST/REPO
  // The tag (`org.opencontainers.image.ref.name`) of a layout or oci-archive,
  // or the RepoTags name / `@N` of a docker-archive; empty: the only image.
  std::string tag;

  // The reference in skopeo's spelling: `oci:DIR:TAG`, `oci-archive:FILE`, ...
  std::string text() const {
    std::string s(transport_name(transport));
    s += transport == transport::registry ? "://" : ":";
    s += path;
    if (!tag.empty()) {
      s += transport == transport::registry && tag.front() == '@' ? "" : ":";
      s += tag;
    }
    return s;
  }
};

namespace detail {

// OCI image-layout's grammar of `org.opencontainers.image.ref.name`:
//   ref       ::= component ("/" component)*
//   component ::= alphanum (separator alphanum)*
//   alphanum  ::= [A-Za-z0-9]+
//   separator ::= [-._:@+] | "--"
inline bool valid_ref_name(std::string_view s) noexcept {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  auto separator = [](char c) {
    return c == '-' || c == '.' || c == '_' || c == ':' || c == '@' || c == '+';
  };
  std::size_t i = 0;
  while (true) { // one component
    if (i == s.size() || !alnum(s[i])) return false;
    while (i < s.size() && alnum(s[i])) ++i;
    while (i < s.size() && s[i] != '/') {
      if (s.compare(i, 2, "--") == 0) i += 2;
      else if (separator(s[i])) ++i;
      else return false;
      if (i == s.size() || !alnum(s[i])) return false;
      while (i < s.size() && alnum(s[i])) ++i;
    }
    if (i == s.size()) return true;
    ++i; // '/'
  }
}

inline result<reference> with_tag(reference r, std::string_view rest) {
  const auto colon = rest.find(':');
  r.path = std::string(rest.substr(0, colon));
  if (colon != std::string_view::npos) r.tag = std::string(rest.substr(colon + 1));
  if (r.path.empty())
    return error(errc::invalid_argument, "image reference has no path: " + std::string(rest));
  if (colon != std::string_view::npos && r.tag.empty())
    return error(errc::invalid_argument, "image reference has an empty tag after ':'");
  const bool by_index =
      r.transport == transport::docker_archive && !r.tag.empty() && r.tag.front() == '@';
  if (!r.tag.empty() && !by_index && !valid_ref_name(r.tag))
    return error(errc::invalid_argument,
                 "invalid image tag '" + r.tag +
                     "' (letters, digits and . _ - : @ + between them, '/' between parts)");
  return r;
}

} // namespace detail

inline result<reference> parse_reference(std::string_view text) {
  constexpr std::string_view oci = "oci:", oci_archive = "oci-archive:",
                             docker_archive = "docker-archive:", registry = "docker://";
  reference r;
  if (text.empty()) return error(errc::invalid_argument, "empty image reference");
  if (text.starts_with(registry)) {
    return error(errc::unsupported,
                 "registry references (docker://) are not supported yet: copy the image "
                 "into a layout or archive with skopeo first");
  }
  if (text.starts_with(oci_archive)) {
    r.transport = transport::oci_archive;
    return detail::with_tag(r, text.substr(oci_archive.size()));
  }
  if (text.starts_with(docker_archive)) {
    r.transport = transport::docker_archive;
    return detail::with_tag(r, text.substr(docker_archive.size()));
  }
  if (text.starts_with(oci)) return detail::with_tag(r, text.substr(oci.size()));
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::path(std::string(text)), ec)) {
    r.path = std::string(text);
    return r;
  }
  return detail::with_tag(r, text);
}

} // namespace ukikit::image
