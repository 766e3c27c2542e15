// `ukikit measure`: PCR 11 as systemd-stub will measure it, for a UKI or for
// section files as systemd-measure takes them; the .pcrsig JSON with a key.
#pragma once

#include "cli.hpp"

#include <ukikit/file.hpp>
#include <ukikit/keys.hpp>
#include <ukikit/measure.hpp>
#include <ukikit/uki.hpp>
#include <ukikit/uki/pcr.hpp>

#include <iostream>
#include <list>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

struct measure_options {
  std::optional<std::string> file;
  std::vector<std::string> phases, banks;
  std::size_t profile = 0;
  std::optional<unsigned> stub_release;
  bool json = false, explain = false, phases_given = false;
  std::string pcr_private_key, key_source = "file", signature_mode = "systemd";
  // Section files, as systemd-measure takes them: name -> path.
  std::vector<std::pair<std::string, std::string>> section_files;
};

inline result<measure::options> measure_opts(const measure_options& o) {
  measure::options opts;
  if (o.phases_given) opts.phases = split_list(o.phases);
  if (o.phases_given && opts.phases.empty()) opts.phases = {""}; // --phases= : the sections alone
  if (!o.banks.empty()) {
    UKIKIT_TRY_ASSIGN(opts.banks, parse_algorithms(o.banks, "bank"));
  }
  return opts;
}

inline result<void> run_measure(const measure_options& o) {
  std::list<file::mapped_file> section_files; // stable: sections view them
  std::optional<file::mapped_file> uki_file;
  std::optional<pe::image> img;
  std::vector<measure::section> sections;
  unsigned release = o.stub_release.value_or(0);
  std::string who = release ? "systemd-stub " + std::to_string(release) : "";
  if (o.file) {
    UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(*o.file));
    uki_file.emplace(std::move(f));
    UKIKIT_TRY_ASSIGN(auto parsed, pe::parse(uki_file->bytes()));
    img.emplace(std::move(parsed));
    uki::view v(*img);
    if (!v.is_uki() && !v.is_addon())
      return error(errc::malformed, *o.file + " is not a UKI (no .linux section)");
    if (const auto stub = uki::identify_stub(*img); stub && !o.stub_release) {
      release = stub->release;
      who = "systemd-stub " + stub->version;
    }
    for (const auto& f : uki::stub_release_findings(v, release, who))
      std::cerr << "ukikit measure: " << escape_controls(f.message) << '\n';
    if (uki::legacy_lookup(release)) {
      for (const auto& f : uki::legacy_lookup_findings(*img, release, who))
        std::cerr << "ukikit measure: " << escape_controls(f.message) << '\n';
    } else {
      UKIKIT_TRY_ASSIGN(auto r, v.resolve(o.profile));
      for (const auto& d : r.duplicates)
        std::cerr << "ukikit measure: duplicate " << uki::name(d.kind) << " in "
                  << uki::view::range_name(d.ignored)
                  << "; measuring the first, as the stub does\n";
    }
    UKIKIT_TRY_ASSIGN(sections, uki::sections_for(v, o.profile, release));
  } else {
    if (o.section_files.empty())
      return error(errc::invalid_argument, "give a UKI, or section files (--linux= …)");
    for (const auto& [name, path] : o.section_files) {
      UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
      section_files.push_back(std::move(f));
      sections.push_back({name, section_files.back().bytes()});
    }
    if (release != 0 && release < measure::first_measuring_release)
      std::cerr << "ukikit measure: " << who << " measures nothing into PCR 11 (systemd-stub does "
                << "since " << measure::first_measuring_release << "); the boot phases alone\n";
    else
      for (const auto name : measure::not_measured_by(sections, release))
        std::cerr << "ukikit measure: " << who << " does not measure " << name << "; left out\n";
  }
  UKIKIT_TRY_ASSIGN(auto opts, measure_opts(o));
  opts.stub_release = release;
  // Each section in each bank at once, on every core.
  std::vector<byte_span> spans;
  for (const auto& s : sections) spans.push_back(s.data);
  const auto known = measure::precomputed::compute(spans, opts.banks);
  opts.known_digest = known.lookup();
  UKIKIT_TRY_ASSIGN(auto prediction, measure::predict(sections, opts));

  if (!o.pcr_private_key.empty()) {
    UKIKIT_TRY_ASSIGN(auto from, keys::parse_source(o.key_source, o.pcr_private_key));
    UKIKIT_TRY_ASSIGN(auto key, keys::load_private_key(from));
    UKIKIT_TRY_ASSIGN(auto mode, measure::parse_signature_mode(o.signature_mode));
    UKIKIT_TRY_ASSIGN(auto sig, measure::sign(prediction, key.get(), mode));
    std::cout << measure::serialize(sig);
    return {};
  }
  if (o.explain) {
    nlohmann::ordered_json all = nlohmann::ordered_json::object();
    for (const auto& bank : prediction.banks)
      for (const auto& value : bank.values) {
        UKIKIT_TRY_ASSIGN(auto events, measure::explain(sections, bank.bank, value.phase, release));
        if (o.json) {
          all[std::string(hash::name(bank.bank))]
             [value.phase.empty() ? "(sections only)" : value.phase] = measure::to_json(events);
          continue;
        }
        std::cout << "# " << hash::name(bank.bank) << ", phase "
                  << (value.phase.empty() ? "(none)" : value.phase) << '\n';
        for (const auto& e : events)
          std::cout << "  " << escape_controls(measure::describe(e)) << '\n';
      }
    if (o.json) std::cout << json_text(all) << '\n';
    return {};
  }
  if (o.json) {
    std::cout << json_text(measure::to_json(prediction)) << '\n';
    return {};
  }
  // systemd-measure calculate's text: one group per phase path.
  std::vector<std::string> phases;
  for (const auto& v : prediction.banks.front().values) phases.push_back(v.phase);
  for (std::size_t i = 0; i < phases.size(); ++i) {
    std::cout << "# PCR[11] phase "
              << (phases[i].empty() ? "(none: the sections alone)" : phases[i]) << '\n';
    for (const auto& bank : prediction.banks)
      std::cout << "11:" << hash::name(bank.bank) << '=' << bank.values[i].value.hex() << '\n';
  }
  return {};
}

inline void add_measure_command(CLI::App& app, measure_options& o, int& rc) {
  auto* cmd = app.add_subcommand(
      "measure", "Predict PCR 11 as systemd-stub measures it (and sign it into .pcrsig)");
  cmd->add_option("FILE", o.file,
                  "A UKI; or give section files with --linux= … as systemd-measure takes them")
      ->check(CLI::ExistingFile);
  cmd->add_option("--profile-index", o.profile,
                  "Profile @N of a multi-profile UKI to measure (default 0)");
  auto* phases =
      cmd->add_option(
             "--phases", o.phases,
             "Phase paths, comma or space separated (default: enter-initrd, "
             "enter-initrd:leave-initrd, …:sysinit, …:ready); --phases= alone: the sections only")
          ->allow_extra_args(false)
          ->expected(0, 1);
  cmd->add_option("--bank", o.banks,
                  "PCR bank: sha1, sha256, sha384, sha512 (repeatable; default all)")
      ->allow_extra_args(false);
  add_json_flag(*cmd, o.json,
                "systemd-measure's JSON: {\"sha256\": [{\"phase\", \"pcr\": 11, \"hash\"}, …], …}");
  cmd->add_flag("--explain", o.explain,
                "List every extend event: what was measured, its digest, PCR 11 after");
  auto* pcr_key = cmd->add_option("--pcr-private-key,--private-key", o.pcr_private_key,
                                  "Print the .pcrsig JSON signed with this key (a file, or what "
                                  "--private-key-source resolves: a pkcs11: URI)");
  cmd->add_option("--private-key-source", o.key_source,
                  "systemd-measure's: file (default), engine:NAME or provider:NAME")
      ->needs(pcr_key);
  cmd->add_option(
      "--signature-mode", o.signature_mode,
      "How .pcrsig entries are signed: systemd (SHA-256 for every bank, systemd >= 258), "
      "bank-hash (each bank's own hash, systemd 252-257), talos");
  add_stub_release_option(*cmd, o.stub_release);
  for (std::string_view name : measure::measured_sections) {
    std::string opt = "--" + std::string(name.substr(1));
    cmd->add_option_function<std::string>(
           opt,
           [&o, name](const std::string& path) {
             o.section_files.emplace_back(std::string(name), path);
           },
           "Section file for " + std::string(name))
        ->check(CLI::ExistingFile);
  }
  cmd->callback([&o, &rc, phases] {
    o.phases_given = phases->count() > 0;
    auto r = run_measure(o);
    rc = r ? exit_ok : report("ukikit measure", r.error());
  });
}

} // namespace ukikit::cli
