// `ukiinspect` and `ukikit inspect`: everything about a PE image or UKI, as
// a readable report or one JSON document, and raw sections on request.
#pragma once

#include "cli.hpp"
#include "initrd_commands.hpp"

#include <ukikit/authenticode.hpp>
#include <ukikit/file.hpp>
#include <ukikit/initrd.hpp>
#include <ukikit/measure.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/uki.hpp>
#include <ukikit/uki/pcr.hpp>

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

inline std::string hex32(std::uint64_t v) { return hex(v); }

inline ojson section_json(const uki::section_entry& e, bool hashes) {
  const pe::section& s = *e.section;
  ojson j{{"name", s.name},
          {"virtual_address", s.virtual_address},
          {"virtual_size", s.virtual_size},
          {"file_offset", s.pointer_to_raw_data},
          {"size", s.size_of_raw_data}};
  if (hashes) {
    auto d = hash::compute(hash::algorithm::sha256, s.data());
    j["sha256"] = d ? d->hex() : "";
  }
  j["profile"] = e.profile ? ojson(*e.profile) : ojson(nullptr);
  return j;
}

// The text sections of a resolution, parsed; problems become warnings.
inline void uki_text_json(const uki::resolution& r, ojson& out,
                          std::vector<std::string>& warnings) {
  auto text_of = [&](uki::section_kind k) -> const pe::section* {
    const auto* e = r.find(k);
    return e ? e->section : nullptr;
  };
  if (const auto* s = text_of(uki::section_kind::cmdline)) {
    auto c = uki::parse_cmdline(*s);
    if (c) {
      out["cmdline"] = c->text;
      for (const auto& f : c->findings) warnings.push_back(".cmdline: " + f.text());
    } else {
      warnings.push_back(".cmdline: " + c.error().message());
    }
  }
  if (const auto* s = text_of(uki::section_kind::osrel)) {
    auto o = uki::parse_os_release(*s);
    if (o) {
      ojson obj = ojson::object();
      for (const auto& e : o->entries) obj[e.key] = e.value;
      out["os_release"] = obj;
      for (const auto& f : o->findings) warnings.push_back(".osrel: " + f.text());
    } else {
      warnings.push_back(".osrel: " + o.error().message());
    }
  }
  if (const auto* s = text_of(uki::section_kind::uname)) {
    auto u = uki::parse_uname(*s);
    if (u) out["uname"] = u->release;
    else warnings.push_back(".uname: " + u.error().message());
  }
  if (const auto* s = text_of(uki::section_kind::sbat)) {
    auto b = uki::parse_sbat(*s);
    if (b) {
      ojson rows = ojson::array();
      for (const auto& e : b->entries)
        rows.push_back({{"component_name", std::string(e.component_name)},
                        {"component_generation", e.component_generation},
                        {"vendor_name", std::string(e.vendor_name)},
                        {"vendor_package_name", std::string(e.vendor_package_name)},
                        {"vendor_version", std::string(e.vendor_version)},
                        {"vendor_url", std::string(e.vendor_url)}});
      out["sbat"] = rows;
      for (const auto& f : b->findings) warnings.push_back(".sbat: " + f.text());
    } else {
      warnings.push_back(".sbat: " + b.error().message());
    }
  }
  if (const auto* e = r.find(uki::section_kind::linux_)) {
    auto k = uki::kernel_facts(e->section->data());
    if (k && !k->versions.empty())
      out["kernel"] = {{"format", uki::format_name(k->format)},
                       {"version", k->version()},
                       {"uname", k->uname()}};
  }
}

inline result<ojson> inspect_pe(const std::string& path, const pe::image& img,
                                const inspect_options& o, const file::mapped_file& f) {
  std::vector<std::string> warnings;
  uki::view v(img);
  // A multi-profile UKI repeats section names by design; the UKI view
  // reports the duplicates that matter (within one profile range).
  const bool profiles = v.profile_count() > 0;
  for (const auto& d : img.diagnostics)
    if (!(profiles && d.message.starts_with("duplicate section"))) warnings.push_back(d.text());
  ojson out{{"file", path},
            {"format", img.pe32plus ? "PE32+" : "PE32"},
            {"machine", pe::machine_name(img.machine)},
            {"subsystem", img.subsystem},
            {"image_base", img.image_base},
            {"section_alignment", img.section_alignment},
            {"file_alignment", img.file_alignment},
            {"size_of_image", img.size_of_image},
            {"size_of_headers", img.size_of_headers},
            {"time_date_stamp", img.time_date_stamp},
            {"nx_compat", (img.dll_characteristics & pe::dll_characteristics_nx_compat) != 0}};
  ojson checksum{{"stored", img.checksum}};
  if (!o.no_hash) {
    const std::uint32_t computed = pe::compute_checksum(img);
    checksum["computed"] = computed;
    checksum["valid"] = computed == img.checksum;
    if (img.checksum != 0 && computed != img.checksum)
      warnings.push_back("CheckSum " + hex(img.checksum) + " is wrong (computed " + hex(computed) +
                         ")");
  }
  out["checksum"] = checksum;

  ojson sections = ojson::array();
  for (const auto& e : v.sections()) sections.push_back(section_json(e, !o.no_hash));
  out["sections"] = sections;
  out["uki"] = v.is_uki();
  out["addon"] = v.is_addon();
  for (const auto& fnd : v.findings()) warnings.push_back(fnd.text());

  // The stub inside, which decides what PCR 11 measures.
  const auto stub = uki::identify_stub(img, o.no_hash); // --no-hash: .sdmagic only
  out["stub"] =
      stub ? ojson{{"version", stub->version}, {"release", stub->release}} : ojson(nullptr);
  measure::options pcr_opts;
  pcr_opts.stub_release = o.stub_release.value_or(stub ? stub->release : 0);

  if (v.is_uki() || v.is_addon()) {
    if (auto r = v.resolve(0)) uki_text_json(*r, out, warnings);
    const std::string who = o.stub_release || !stub
                                ? "systemd-stub " + std::to_string(pcr_opts.stub_release)
                                : "systemd-stub " + stub->version;
    if (pcr_opts.stub_release) {
      for (auto& line : uki::stub_findings(v, pcr_opts.stub_release, who))
        warnings.push_back(std::move(line));
      for (auto& line : uki::legacy_findings(img, pcr_opts.stub_release, who))
        warnings.push_back(std::move(line));
    }
    ojson profiles = ojson::array();
    for (std::size_t n = 0; n < v.profile_count(); ++n) {
      ojson p{{"index", n}};
      auto range = v.profile(n);
      if (range && !range->empty()) {
        auto meta = uki::parse_profile(*range->front().section);
        if (meta) {
          p["id"] = meta->id ? ojson(*meta->id) : ojson(nullptr);
          p["title"] = meta->title ? ojson(*meta->title) : ojson(nullptr);
        } else {
          warnings.push_back("profile @" + std::to_string(n) + ": " + meta.error().message());
        }
      }
      if (!o.no_hash)
        if (auto pred = uki::predict_pcr11(v, n, pcr_opts)) p["pcr11"] = measure::to_json(*pred);
      profiles.push_back(p);
    }
    out["profiles"] = profiles;
    // The initramfs, walked as the kernel reads it (this decompresses it,
    // so --no-hash leaves it out).
    auto base = v.resolve(0);
    if (const auto* e = base ? base->find(uki::section_kind::initrd) : nullptr) {
      if (o.no_hash) {
        out["initrd"] = nullptr;
      } else {
        auto rep = initrd::examine(e->section->data());
        if (rep) {
          out["initrd"] = initrd_json(*rep);
          for (const auto& w : rep->warnings) warnings.push_back(".initrd: " + w.text());
          if (rep->failure) warnings.push_back(".initrd: " + rep->failure->message());
        } else {
          warnings.push_back(".initrd: " + rep.error().message());
        }
      }
    }
    if (!o.no_hash) {
      auto pred = uki::predict_pcr11(v, 0, pcr_opts);
      if (pred) out["pcr11"] = measure::to_json(*pred);
      else warnings.push_back("PCR 11: " + pred.error().message());
      // .pcrsig against the embedded .pcrpkey, per profile.
      const std::size_t count = std::max<std::size_t>(v.profile_count(), 1);
      for (std::size_t n = 0; n < count; ++n) {
        auto r = v.resolve(n);
        if (!r || !r->find(uki::section_kind::pcrsig) || !r->find(uki::section_kind::pcrpkey))
          continue;
        auto rep = uki::verify_pcrsig(v, n, {}, {}, measure::signature_mode::systemd,
                                      pcr_opts.stub_release);
        for (const auto& p : rep.problems)
          warnings.push_back(
              std::string(v.profile_count() ? "profile @" + std::to_string(n) + ": " : "") +
              ".pcrsig does not match the predicted PCR 11: " + p);
      }
    }
  }

  // Authenticode: the digest and what each signature claims (no trust here).
  ojson ac{{"sha256", nullptr}, {"signatures", ojson::array()}};
  if (!o.no_hash) {
    authenticode::signature_database none;
    authenticode::verify_options vopt;
    vopt.strict = false; // report what the gate would refuse, as warnings
    vopt.consumed = [&f](byte_span piece) { f.release(piece); };
    auto rep = authenticode::verify(img, none, nullptr, vopt);
    if (rep.sha256) ac["sha256"] = rep.sha256->hex();
    for (const auto& s : rep.signatures) {
      ac["signatures"].push_back({{"subject", s.subject},
                                  {"issuer", s.issuer},
                                  {"digest_algorithm", s.digest_algorithm},
                                  {"digest_matches", s.digest_matches},
                                  {"signature_valid", s.signature_valid},
                                  {"nested_signatures", s.nested_signatures}});
      for (const auto& n : s.notes) warnings.push_back(n);
      if (!s.digest_matches && !s.computed.empty())
        warnings.push_back("signature digest mismatch: signed=" + s.claimed +
                           ", computed=" + s.computed);
    }
    for (const auto& f : rep.findings)
      if (f.code != authenticode::code::not_signed) warnings.push_back(f.text());
    ac["findings"] = to_json(rep.findings);
  } else {
    for (const auto& e : authenticode::walk_certificate_table(img).entries) {
      auto s = authenticode::parse_signature(e);
      if (s)
        ac["signatures"].push_back(
            {{"subject", s->subject},
             {"issuer", s->issuer},
             {"digest_algorithm", s->indirect.algorithm
                                      ? std::string(hash::name(*s->indirect.algorithm))
                                      : s->indirect.digest_oid}});
    }
  }
  out["authenticode"] = ac;
  out["warnings"] = warnings;
  return out;
}

// An initramfs file: the segment report, as JSON into `all` or printed.
inline int inspect_initrd(const std::string& path, byte_span bytes, const inspect_options& o,
                          ojson& all) {
  auto rep = initrd::examine(bytes);
  if (!rep) return report("ukiinspect", rep.error().prefixed(path));
  if (o.json) {
    ojson j{{"file", path}, {"format", "initramfs"}, {"initrd", initrd_json(*rep)}};
    all.push_back(std::move(j));
  } else {
    std::cout << escape_controls(path) << ": initramfs, " << rep->segments.size() << " segments\n";
    print_initrd_report(*rep, "  ");
  }
  if (rep->failure) return report("ukiinspect", rep->failure->prefixed(path));
  if (rep->truncated) return report("ukiinspect", rep->truncated->prefixed(path)); // malformed
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
    auto f = file::mapped_file::open(path);
    if (!f) {
      rc = report(tool, f.error());
      continue;
    }
    const byte_span bytes = f->bytes();
    const bool pe_file =
        bytes.size() >= 2 && bytes[0] == std::byte{'M'} && bytes[1] == std::byte{'Z'};
    if (!pe_file && !o.section) { // an initramfs, as `ukikit initrd info` shows it
      if (detail::inspect_initrd(path, bytes, o, all) != exit_ok) rc = exit_usage;
      continue;
    }
    auto img = pe::parse(bytes, pe::strictness::permissive);
    if (!img) {
      rc = report(tool, img.error().prefixed(
                            path + " (ukiinspect reads PE images, UKIs and initramfs files; OCI "
                                   "images are not supported yet)"));
      continue;
    }
    if (o.section) {
      const pe::section* s = img->find(*o.section);
      if (!s) {
        rc = report(tool, error(errc::invalid_argument, path + " has no section " + *o.section));
        continue;
      }
      byte_span d = s->data();
      if (std::fwrite(d.data(), 1, d.size(), stdout) != d.size())
        return report(tool, error(errc::io, "cannot write to stdout"));
      continue;
    }
    auto j = detail::inspect_pe(path, *img, o, *f);
    if (!j) {
      rc = report(tool, j.error());
      continue;
    }
    if (o.json) all.push_back(std::move(*j));
    else detail::print_report(*j);
  }
  if (o.json) std::cout << json_text(all.size() == 1 ? all.front() : ojson{{"files", all}}) << '\n';
  return rc;
}

inline void add_inspect_options(CLI::App& cmd, inspect_options& o) {
  cmd.add_flag(
      "--json", o.json,
      "One JSON document: the file's object (sections, machine, cmdline, os_release, uname, sbat, "
      "profiles, authenticode, pcr11, warnings …), or {\"files\": […]} for several files");
  cmd.add_flag("--no-hash", o.no_hash,
               "Skip everything that reads section data: sha256s, CheckSum, PCR 11, digests");
  add_stub_release_option(cmd, o.stub_release);
  cmd.add_option("--section", o.section,
                 "Write this section's bytes (VirtualSize-limited) to stdout instead");
  cmd.add_option("FILE", o.files, "PE images, UKIs or initramfs files")->required();
}

} // namespace ukikit::cli
