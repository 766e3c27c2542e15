// ukiverify: the CI gate for signed UKIs and PE images (same code as
// `ukikit verify`).
#include "cli.hpp"
#include "verify_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "ukiverify: PASS only when a signature chains to a given certificate, its digest equals "
      "the image digest, and no unhashed data hides in the file",
      "ukiverify"};
  ukikit::cli::add_version(app);
  ukikit::cli::verify_options opts;
  ukikit::cli::add_verify_options(app, opts);
  if (auto done = ukikit::cli::parse(app, argc, argv)) return *done;
  return ukikit::cli::run_verify(opts, "ukiverify");
}
