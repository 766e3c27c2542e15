// Safe extraction of cpio archives and tar layers into a directory: one
// target, one extraction core, one adapter per format.
//
// - extract/target.hpp: the target (a directory held open), options, the
//   report and the finding codes (extract::code).
// - extract/node.hpp: node_extractor, which places format-neutral nodes.
// - extract/cpio.hpp: cpio_extractor, the initramfs as the kernel unpacks it.
// - extract/layer.hpp: layer_extractor, OCI tar layers as umoci applies them.
//
// What holds for both: nothing is ever created or written outside the target.
//
// - Names are relative to the target. An absolute name or one with a ".."
//   component is refused and reported; "." is the target itself; empty and
//   "." components are dropped ("./a//b" is "a/b").
// - Every directory on the way to an entry is opened from the target's
//   descriptor without following symlinks: one openat2(RESOLVE_IN_ROOT |
//   RESOLVE_NO_SYMLINKS) where the kernel has it (5.6+), else one
//   openat(O_NOFOLLOW | O_DIRECTORY) per component. A symlink in a parent is
//   refused, not followed; a missing parent is created (as cpio -d does).
// - The entry itself is made with *at() calls on its parent's descriptor and
//   O_NOFOLLOW. What is in the way is removed first (how: extract/node.hpp,
//   `replace`), so a symlink there is replaced, never written through.
// - Refused and skipped entries go to the report as findings (warnings,
//   extract::code, the entry's name as subject) and extraction goes on; a
//   failure of the destination itself (no space, read-only filesystem, I/O)
//   stops it with errc::io naming the path.
#pragma once

#include "extract/cpio.hpp"
#include "extract/layer.hpp"
#include "extract/node.hpp"
#include "extract/target.hpp"
