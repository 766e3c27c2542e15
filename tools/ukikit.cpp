// ukikit: build, sign, measure and check Unified Kernel Images and what they
// are made of. Each command lives in its own header; all logic is in the
// library headers under include/ukikit/.
#include "build_command.hpp"
#include "cli.hpp"
#include "compress_commands.hpp"
#include "digest_command.hpp"
#include "genkey_command.hpp"
#include "image_commands.hpp"
#include "image_verify_command.hpp"
#include "initrd_commands.hpp"
#include "inspect_command.hpp"
#include "installer_commands.hpp"
#include "layer_commands.hpp"
#include "measure_command.hpp"
#include "sign_commands.hpp"
#include "verify_command.hpp"

int main(int argc, char** argv) {
  using namespace ukikit::cli;
  CLI::App app{"ukikit: build, inspect and verify Unified Kernel Images", "ukikit"};
  add_version(app);
  app.require_subcommand(1);

  int rc = exit_ok;
  build_options build;
  add_build_command(app, build, rc);
  sign_options sign;
  add_sign_command(app, sign, rc);
  attach_options attach;
  add_attach_command(app, attach, rc);
  unsign_options unsign;
  add_unsign_command(app, unsign, rc);
  genkey_options genkey;
  add_genkey_command(app, genkey, rc);

  inspect_options inspect;
  auto* inspect_cmd =
      app.add_subcommand("inspect", "Inspect PE images and UKIs (same as ukiinspect)");
  add_inspect_options(*inspect_cmd, inspect);
  inspect_cmd->callback([&] { rc = run_inspect(inspect, "ukikit inspect"); });
  measure_options measure;
  add_measure_command(app, measure, rc);
  verify_options verify;
  auto* verify_cmd = app.add_subcommand("verify", "Verify signed PE images (same as ukiverify)");
  add_verify_options(*verify_cmd, verify);
  verify_cmd->callback([&] { rc = run_verify(verify, "ukikit verify"); });

  digest_options digest;
  add_digest_command(app, digest, rc);
  compress_options compress;
  add_compress_command(app, compress, rc);
  decompress_options decompress;
  add_decompress_command(app, decompress, rc);

  initrd_options initrd;
  add_initrd_command(app, initrd, rc);
  layer_options layer;
  add_layer_command(app, layer, rc);
  image_inspect_options image_inspect;
  image_copy_options image_copy;
  auto* image = add_image_command(app, image_inspect, image_copy, rc);
  add_image_base_command(*image, rc);
  add_image_assemble_command(*image, rc);
  add_image_build_command(*image, rc);
  image_verify_options image_verify;
  image_extract_options image_extract;
  add_image_verify_commands(*image, image_verify, image_extract, rc);

  if (auto done = parse(app, argc, argv)) return *done;
  return rc;
}
