// `ukikit digest`: streaming digests of files, printed in the OCI form.
#pragma once

#include "cli.hpp"

#include <ukikit/file.hpp>
#include <ukikit/hash.hpp>

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace ukikit::cli {

struct digest_options {
  std::vector<std::string> algorithms{"sha256"};
  std::vector<std::string> files;
  bool json = false;
};

// Hash a whole mapped file in pieces, so progress can be shown.
inline result<std::vector<hash::digest>> digest_file(const std::string& path,
                                                     const std::vector<hash::algorithm>& algs) {
  std::vector<hash::hasher> hashers;
  for (auto a : algs) {
    UKIKIT_TRY_ASSIGN(auto h, hash::hasher::create(a));
    hashers.push_back(std::move(h));
  }
  if (!is_empty_regular_file(path)) {
    UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
    f.advise_sequential();
    constexpr std::size_t piece = 16 << 20; // progress granularity
    progress bar("hashing " + path, f.size());
    byte_span all = f.bytes();
    for (std::size_t off = 0; off < all.size(); off += piece) {
      byte_span p = all.subspan(off, std::min(piece, all.size() - off));
      for (auto& h : hashers) h.update(p);
      bar.update(off + p.size());
    }
  }
  std::vector<hash::digest> out;
  for (auto& h : hashers) {
    UKIKIT_TRY_ASSIGN(auto d, h.finish());
    out.push_back(d);
  }
  return out;
}

inline int run_digest(const digest_options& o) {
  std::vector<hash::algorithm> algs;
  for (const auto& name : o.algorithms) {
    auto a = hash::parse_algorithm(name);
    if (!a) {
      std::cerr << "ukikit digest: unknown algorithm " << name
                << " (use sha1, sha256, sha384 or sha512)\n";
      return exit_usage;
    }
    algs.push_back(*a);
  }
  int rc = exit_ok;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& path : o.files) {
    auto digests = digest_file(path, algs);
    if (!digests) {
      report("ukikit digest", digests.error());
      rc = exit_usage;
      continue;
    }
    if (o.json) {
      nlohmann::ordered_json entry;
      entry["file"] = path;
      for (const auto& d : *digests) entry[std::string(hash::name(d.alg()))] = d.str();
      files.push_back(entry);
    } else {
      for (const auto& d : *digests) std::cout << d.str() << "  " << path << '\n';
    }
  }
  if (o.json) std::cout << json_text(nlohmann::ordered_json{{"files", files}}) << '\n';
  return rc;
}

inline void add_digest_command(CLI::App& app, digest_options& o, int& rc) {
  auto* cmd = app.add_subcommand("digest", "Print streaming digests of files as ALG:HEX");
  cmd->add_option("-a,--algorithm", o.algorithms,
                  "Digest algorithm: sha1, sha256 (default), sha384, sha512; repeat for several")
      ->allow_extra_args(false);
  add_json_flag(*cmd, o.json,
                "Print one JSON document: {\"files\": [{\"file\", ALG: \"ALG:HEX\"}]}");
  cmd->add_option("FILE", o.files, "Files to hash")->required();
  cmd->callback([&] { rc = run_digest(o); });
}

} // namespace ukikit::cli
