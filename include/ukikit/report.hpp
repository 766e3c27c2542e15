// report: what the tools report, as library calls. Each report is data plus
// its JSON, which is exactly what the tool prints with --json: an embedder
// that calls the same function gets the same bytes (report::json_text).
//
//   report/json.hpp    json_text(): the tools' JSON text
//   report/detect.hpp  detect(): what a file is (PE/UKI, cpio, compressed);
//                      initrd_bytes(): the initramfs of a UKI or file
//   report/uki.hpp     inspect_uki(): ukiinspect on a PE image or UKI
//   report/verify.hpp  verify_uki(): ukiverify's verdict, load_databases()
//   report/initrd.hpp  inspect_initrd(), walk_tree(): ukiinspect and
//                      `ukikit initrd info|list` on an initramfs
//   report/layer.hpp   list_layer(): `ukikit layer list` on a tar layer
//   report/image.hpp   inspect_image(): `ukikit image inspect` and ukiinspect
//                      on an OCI image (layout, oci-archive, docker-archive)
#pragma once

#include "report/detect.hpp"
#include "report/image.hpp"
#include "report/initrd.hpp"
#include "report/json.hpp"
#include "report/layer.hpp"
#include "report/uki.hpp"
#include "report/verify.hpp"
