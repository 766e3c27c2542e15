// `ukiinspect` and `ukikit inspect`: everything about a PE image or UKI, as
// a readable report or one JSON document, and raw sections on request.
#pragma once

#include "cli.hpp"

#include <ukikit/file.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/initrd.hpp>
#include <ukikit/installer/inspect.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/report.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

struct inspect_options {
  std::vector<std::string> files;
  std::optional<std::string> section;
  std::optional<unsigned> stub_release;
  bool json = false, no_hash = false;
};

using ojson = nlohmann::ordered_json;

namespace detail {

// An initramfs file: the segment report, as JSON into `all` or printed.
inline int inspect_initrd(const std::string& path, byte_span bytes, const inspect_options& o,
                          ojson& all) {
  auto rep = report::inspect_initrd(path, bytes);
  if (!rep) return cli::report("ukiinspect", rep.error().prefixed(path));
  if (o.json) {
    all.push_back(report::to_json(*rep));
  } else {
    std::cout << rep->render_text();
  }
  if (rep->walk.failure) return cli::report("ukiinspect", rep->walk.failure->prefixed(path));
  if (rep->walk.truncated) // malformed
    return cli::report("ukiinspect", rep->walk.truncated->prefixed(path));
  return exit_ok;
}

// A string of the report, escaped for the terminal: section names, cmdline,
// os-release, SBAT rows, profile names and certificate subjects all come
// from the input, and an ESC in them must not reach the terminal.
inline std::string text(const ojson& v) { return escape_controls(v.get<std::string>()); }

// The readable report, from the JSON.
inline void print_report(const ojson& j) {
  std::cout << text(j["file"]) << ": " << text(j["format"]) << ' ' << text(j["machine"])
            << (j["uki"].get<bool>()     ? ", UKI"
                : j["addon"].get<bool>() ? ", UKI addon"
                                         : "")
            << ", " << j["sections"].size() << " sections\n";
  std::printf(
      "  SizeOfImage %s, SizeOfHeaders %s, SectionAlignment %s, FileAlignment %s, Subsystem %d%s\n",
      hex(j["size_of_image"].get<std::uint64_t>()).c_str(),
      hex(j["size_of_headers"].get<std::uint64_t>()).c_str(),
      hex(j["section_alignment"].get<std::uint64_t>()).c_str(),
      hex(j["file_alignment"].get<std::uint64_t>()).c_str(), j["subsystem"].get<int>(),
      j["nx_compat"].get<bool>() ? ", NX_COMPAT" : "");
  const auto& cs = j["checksum"];
  std::printf("  CheckSum %s", hex(cs["stored"].get<std::uint64_t>()).c_str());
  if (cs.contains("computed"))
    std::printf(" (%s)", cs["valid"].get<bool>()
                             ? "valid"
                             : ("computed " + hex(cs["computed"].get<std::uint64_t>())).c_str());
  std::printf("\n  sections:\n    %-8s %10s %10s %10s %10s  %s\n", "name", "vaddr", "vsize",
              "offset", "size", "sha256");
  for (const auto& s : j["sections"])
    std::printf("    %-8s %10s %10s %10s %10s  %s%s\n", text(s["name"]).c_str(),
                hex(s["virtual_address"].get<std::uint64_t>()).c_str(),
                hex(s["virtual_size"].get<std::uint64_t>()).c_str(),
                hex(s["file_offset"].get<std::uint64_t>()).c_str(),
                hex(s["size"].get<std::uint64_t>()).c_str(),
                s.contains("sha256") ? text(s["sha256"]).c_str() : "-",
                s["profile"].is_null()
                    ? ""
                    : (" (profile @" + std::to_string(s["profile"].get<int>()) + ")").c_str());
  if (j.contains("stub") && j["stub"].is_object())
    std::cout << "  stub: systemd-stub " << text(j["stub"]["version"]) << '\n';
  if (j.contains("kernel"))
    std::cout << "  kernel: " << text(j["kernel"]["format"]) << ", " << text(j["kernel"]["version"])
              << '\n';
  if (j.contains("uname")) std::cout << "  uname: " << text(j["uname"]) << '\n';
  if (j.contains("cmdline")) std::cout << "  cmdline: " << text(j["cmdline"]) << '\n';
  if (j.contains("os_release")) {
    const auto& o = j["os_release"];
    std::cout << "  os-release: "
              << (o.contains("PRETTY_NAME")
                      ? text(o["PRETTY_NAME"])
                      : escape_controls(o.dump(-1, ' ', false, ojson::error_handler_t::replace)))
              << '\n';
  }
  if (j.contains("sbat")) {
    std::cout << "  sbat:\n";
    for (const auto& r : j["sbat"])
      std::cout << "    " << text(r["component_name"]) << ','
                << r["component_generation"].get<std::uint64_t>() << ',' << text(r["vendor_name"])
                << ',' << text(r["vendor_package_name"]) << ',' << text(r["vendor_version"]) << ','
                << text(r["vendor_url"]) << '\n';
  }
  if (j.contains("profiles"))
    for (const auto& p : j["profiles"])
      std::cout << "  profile @" << p["index"].get<int>() << ": "
                << (p.contains("id") && p["id"].is_string() ? text(p["id"]) : "")
                << (p.contains("title") && p["title"].is_string() ? " \"" + text(p["title"]) + "\""
                                                                  : "")
                << '\n';
  if (j.contains("initrd") && j["initrd"].is_object()) {
    std::cout << "  initrd:";
    for (const auto& seg : j["initrd"]["segments"])
      std::cout << ' ' << text(seg["compression"]) << " (" << seg["entries"].get<std::uint64_t>()
                << " entries)";
    std::cout << '\n';
  }
  if (j.contains("pcr11"))
    for (const auto& [bank, values] : j["pcr11"].items())
      for (const auto& v : values)
        std::cout << "  PCR 11 " << bank << ' '
                  << (v.contains("phase") ? text(v["phase"]) : "(sections)") << ": "
                  << text(v["hash"]) << '\n';
  const auto& ac = j["authenticode"];
  if (!ac["sha256"].is_null()) std::cout << "  authenticode sha256: " << text(ac["sha256"]) << '\n';
  if (ac["signatures"].empty()) std::cout << "  signatures: none\n";
  for (const auto& s : ac["signatures"]) {
    std::cout << "  signature: " << text(s["subject"]) << " (issuer " << text(s["issuer"]) << "), "
              << text(s["digest_algorithm"]);
    if (s.contains("digest_matches"))
      std::cout << (s["digest_matches"].get<bool>() ? ", digest matches" : ", DIGEST MISMATCH");
    std::cout << '\n';
  }
  for (const auto& w : j["warnings"]) std::cout << "  warning: " << text(w) << '\n';
}

} // namespace detail

inline int run_inspect(const inspect_options& o, std::string_view tool) {
  int rc = exit_ok;
  ojson all = ojson::array();
  for (const auto& path : o.files) {
    if (auto ref = image::detect_store(path); ref && !o.section) { // an OCI image
      auto src = image::source::open(*ref);
      if (!src) {
        rc = report(tool, src.error());
        continue;
      }
      const auto rep = report::inspect_image(*src);
      report::inspect_options ro;
      ro.hashes = !o.no_hash;
      ro.stub_release = o.stub_release;
      const auto ukis = installer::inspect_ukis(*src, rep, ro);
      if (o.json) {
        auto j = report::to_json(rep);
        if (!ukis.empty()) j["installer"] = installer::to_json(ukis);
        all.push_back(std::move(j));
      } else {
        std::cout << report::image_text(rep);
        for (const auto& u : ukis) { // each platform's UKI, as ukiinspect shows a UKI file
          std::cout << '\n';
          if (u.uki) detail::print_report(report::to_json(*u.uki));
          else std::cout << escape_controls(u.platform + ":" + u.path) << ": unreadable\n";
        }
        print_findings(tool, rep.findings);
      }
      for (const auto& u : ukis)
        if (u.problem)
          rc = report(tool, u.problem->prefixed(u.platform + ":" + u.path), exit_failed);
      if (!rep.passed() && rc == exit_ok) rc = exit_failed;
      continue;
    }
    auto f = file::mapped_file::open(path);
    if (!f) {
      rc = report(tool, f.error());
      continue;
    }
    const byte_span bytes = f->bytes();
    const std::string kinds = "ukiinspect reads PE images, UKIs, initramfs files and OCI "
                              "images: layout directories, oci-archive and docker-archive files";
    if (report::detect(bytes).initramfs() && !o.section) {
      if (!report::looks_like_initramfs(bytes)) {
        rc = report(tool,
                    error(errc::malformed,
                          path +
                              " is neither a PE image nor an initramfs: no MZ, cpio or "
                              "compression magic at its start (\"" +
                              excerpt(as_chars(bytes).substr(0, 16), 16) + "\"; " + kinds + ")"));
        continue;
      }
      // an initramfs, as `ukikit initrd info` shows it
      if (detail::inspect_initrd(path, bytes, o, all) != exit_ok) rc = exit_usage;
      continue;
    }
    const std::string not_pe = path + " (" + kinds + ")";
    if (o.section) {
      auto img = pe::parse(bytes, pe::strictness::permissive);
      const pe::section* s = img ? img->find(*o.section) : nullptr;
      if (!img) {
        rc = report(tool, img.error().prefixed(not_pe));
        continue;
      }
      if (!s) {
        rc = report(tool, error(errc::invalid_argument, path + " has no section " + *o.section));
        continue;
      }
      byte_span d = s->data();
      if (std::fwrite(d.data(), 1, d.size(), stdout) != d.size())
        return report(tool, error(errc::io, "cannot write to stdout"));
      continue;
    }
    report::inspect_options ro;
    ro.name = path;
    ro.hashes = !o.no_hash;
    ro.stub_release = o.stub_release;
    ro.consumed = [&f](byte_span piece) { f->release(piece); }; // hashed pages are dropped
    auto r = report::inspect_uki(bytes, ro);
    if (!r) {
      rc = report(tool, r.error().prefixed(not_pe));
      continue;
    }
    auto j = report::to_json(*r);
    if (o.json) all.push_back(std::move(j));
    else detail::print_report(j);
  }
  if (o.json) std::cout << json_text(all.size() == 1 ? all.front() : ojson{{"files", all}}) << '\n';
  return rc;
}

inline void add_inspect_options(CLI::App& cmd, inspect_options& o) {
  add_json_flag(
      cmd, o.json,
      "One JSON document: the file's object (sections, machine, cmdline, os_release, uname, sbat, "
      "profiles, authenticode, pcr11, warnings …), or {\"files\": […]} for several files");
  cmd.add_flag("--no-hash", o.no_hash,
               "Skip everything that reads section data: sha256s, CheckSum, PCR 11, digests");
  add_stub_release_option(cmd, o.stub_release);
  cmd.add_option("--section", o.section,
                 "Write this section's bytes (VirtualSize-limited) to stdout instead");
  cmd.add_option("FILE", o.files,
                 "PE images, UKIs, initramfs files, or OCI images (a layout directory, an "
                 "oci-archive or docker-archive file, or oci:DIR[:TAG], oci-archive:FILE[:TAG], "
                 "docker-archive:FILE[:REF])")
      ->required();
}

} // namespace ukikit::cli
