// ukiinspect: a PE image or UKI down to its last byte (same code as
// `ukikit inspect`).
#include "cli.hpp"
#include "inspect_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ukiinspect: headers, sections, UKI text sections, profiles, kernel version, "
               "signatures and PCR 11 of PE images and UKIs",
               "ukiinspect"};
  ukikit::cli::add_version(app);
  ukikit::cli::inspect_options opts;
  ukikit::cli::add_inspect_options(app, opts);
  if (auto done = ukikit::cli::parse(app, argc, argv)) return *done;
  return ukikit::cli::run_inspect(opts, "ukiinspect");
}
