// Installer images: installer-base, the per-architecture artifacts layer
// (UKI and systemd-boot) assembled on it, and the checks that gate a
// release. The layout of the artifacts is in installer/layout.hpp; the
// recipe of a build (ukify's config format) in installer/recipe.hpp; its
// signed UKIs and systemd-boots in installer/build.hpp.
#pragma once

#include "installer/assemble.hpp"
#include "installer/base.hpp"
#include "installer/build.hpp"
#include "installer/compose.hpp"
#include "installer/inspect.hpp"
#include "installer/layout.hpp"
#include "installer/recipe.hpp"
#include "installer/verify.hpp"
