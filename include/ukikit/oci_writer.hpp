// OCI writer: the JSON of the model in oci.hpp, deterministic and compact.
//
// Known fields in the order of the image-spec's Go types (specs-go/v1: the
// order the spec documents them and skopeo and umoci write them);
// descriptors inside a Docker manifest or manifest list in Docker's order
// (mediaType, size, digest), as skopeo writes them; optional fields left out
// when empty (Go's omitempty); map members (annotations, Labels,
// ExposedPorts, Volumes) sorted by key, as Go writes maps; then each
// object's unknown fields (`extra`) in the order they were read. `extra`
// must not repeat a known field's name. Strings are escaped as json.hpp
// writes them (only `"`, `\` and control characters). No trailing newline.
// parse(serialize(x)) == x for every x a parser returned.
#pragma once

#include "base64.hpp"
#include "json.hpp"
#include "oci.hpp"

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::oci {

namespace detail {

inline json::value strings_json(const std::vector<std::string>& v) {
  auto a = json::value::make_array();
  for (const auto& s : v) a.items.push_back(json::value::make_string(s));
  return a;
}

inline json::value map_json(const std::map<std::string, std::string>& m) {
  auto o = json::value::make_object();
  for (const auto& [k, v] : m) o.add(k, json::value::make_string(v));
  return o;
}

inline json::value set_json(const std::set<std::string>& s) {
  auto o = json::value::make_object();
  for (const auto& k : s) o.add(k, json::value::make_object());
  return o;
}

inline void add_string(json::value& o, std::string_view key, const std::string& s) {
  if (!s.empty()) o.add(std::string(key), json::value::make_string(s));
}

inline void add_strings(json::value& o, std::string_view key, const std::vector<std::string>& v) {
  if (!v.empty()) o.add(std::string(key), strings_json(v));
}

inline void add_extra(json::value& o, const json::object& extra) {
  for (const auto& m : extra) o.members.push_back(m);
}

} // namespace detail

inline json::value to_json(const platform& p) {
  auto o = json::value::make_object();
  o.add("architecture", json::value::make_string(p.architecture));
  o.add("os", json::value::make_string(p.os));
  detail::add_string(o, "os.version", p.os_version);
  detail::add_strings(o, "os.features", p.os_features);
  detail::add_string(o, "variant", p.variant);
  detail::add_strings(o, "features", p.features);
  detail::add_extra(o, p.extra);
  return o;
}

namespace detail {
// Docker's distribution types order a descriptor mediaType, size, digest;
// OCI's mediaType, digest, size.
inline json::value descriptor_json(const descriptor& d, bool docker_order) {
  auto o = json::value::make_object();
  o.add("mediaType", json::value::make_string(d.media_type));
  if (docker_order) o.add("size", json::value::make_number(d.size));
  o.add("digest", json::value::make_string(d.digest.str()));
  if (!docker_order) o.add("size", json::value::make_number(d.size));
  add_strings(o, "urls", d.urls);
  if (!d.annotations.empty()) o.add("annotations", map_json(d.annotations));
  if (d.data) o.add("data", json::value::make_string(base64_encode(*d.data)));
  if (d.platform) o.add("platform", to_json(*d.platform));
  add_string(o, "artifactType", d.artifact_type);
  add_extra(o, d.extra);
  return o;
}
} // namespace detail

inline json::value to_json(const descriptor& d) { return detail::descriptor_json(d, false); }

inline json::value to_json(const index& i) {
  auto o = json::value::make_object();
  o.add("schemaVersion", json::value::make_number(i.schema_version));
  detail::add_string(o, "mediaType", i.media_type);
  detail::add_string(o, "artifactType", i.artifact_type);
  const bool docker = i.media_type == media_type::docker_manifest_list;
  auto& list = o.add("manifests", json::value::make_array());
  for (const auto& d : i.manifests) list.items.push_back(detail::descriptor_json(d, docker));
  if (i.subject) o.add("subject", to_json(*i.subject));
  if (!i.annotations.empty()) o.add("annotations", detail::map_json(i.annotations));
  detail::add_extra(o, i.extra);
  return o;
}

inline json::value to_json(const manifest& m) {
  auto o = json::value::make_object();
  o.add("schemaVersion", json::value::make_number(m.schema_version));
  detail::add_string(o, "mediaType", m.media_type);
  detail::add_string(o, "artifactType", m.artifact_type);
  const bool docker = m.media_type == media_type::docker_manifest;
  o.add("config", detail::descriptor_json(m.config, docker));
  auto& list = o.add("layers", json::value::make_array());
  for (const auto& d : m.layers) list.items.push_back(detail::descriptor_json(d, docker));
  if (m.subject) o.add("subject", to_json(*m.subject));
  if (!m.annotations.empty()) o.add("annotations", detail::map_json(m.annotations));
  detail::add_extra(o, m.extra);
  return o;
}

inline json::value to_json(const execution_config& c) {
  auto o = json::value::make_object();
  detail::add_string(o, "User", c.user);
  if (!c.exposed_ports.empty()) o.add("ExposedPorts", detail::set_json(c.exposed_ports));
  detail::add_strings(o, "Env", c.env);
  detail::add_strings(o, "Entrypoint", c.entrypoint);
  detail::add_strings(o, "Cmd", c.cmd);
  if (!c.volumes.empty()) o.add("Volumes", detail::set_json(c.volumes));
  detail::add_string(o, "WorkingDir", c.working_dir);
  if (!c.labels.empty()) o.add("Labels", detail::map_json(c.labels));
  detail::add_string(o, "StopSignal", c.stop_signal);
  detail::add_extra(o, c.extra);
  return o;
}

inline json::value to_json(const rootfs& r) {
  auto o = json::value::make_object();
  o.add("type", json::value::make_string(r.type));
  auto& list = o.add("diff_ids", json::value::make_array());
  for (const auto& d : r.diff_ids) list.items.push_back(json::value::make_string(d.str()));
  detail::add_extra(o, r.extra);
  return o;
}

inline json::value to_json(const history_entry& h) {
  auto o = json::value::make_object();
  detail::add_string(o, "created", h.created);
  detail::add_string(o, "created_by", h.created_by);
  detail::add_string(o, "author", h.author);
  detail::add_string(o, "comment", h.comment);
  if (h.empty_layer) o.add("empty_layer", json::value::make_bool(true));
  detail::add_extra(o, h.extra);
  return o;
}

inline json::value to_json(const image_config& c) {
  auto o = json::value::make_object();
  detail::add_string(o, "created", c.created);
  detail::add_string(o, "author", c.author);
  o.add("architecture", json::value::make_string(c.architecture));
  o.add("os", json::value::make_string(c.os));
  detail::add_string(o, "os.version", c.os_version);
  detail::add_strings(o, "os.features", c.os_features);
  detail::add_string(o, "variant", c.variant);
  o.add("config", to_json(c.config));
  o.add("rootfs", to_json(c.rootfs));
  if (!c.history.empty()) {
    auto& list = o.add("history", json::value::make_array());
    for (const auto& h : c.history) list.items.push_back(to_json(h));
  }
  detail::add_extra(o, c.extra);
  return o;
}

inline json::value to_json(const layout_header& h) {
  auto o = json::value::make_object();
  o.add("imageLayoutVersion", json::value::make_string(h.image_layout_version));
  detail::add_extra(o, h.extra);
  return o;
}

// Compact JSON, no trailing newline: the bytes to store and digest.
template <class T>
  requires requires(const T& x) { to_json(x); }
inline std::string serialize(const T& x) { return json::dump(to_json(x)); }

} // namespace ukikit::oci
