// Installer images: installer-base, the per-architecture artifacts layer
// (UKI and systemd-boot) assembled on it, and the checks that gate a
// release. The layout of the artifacts is in installer/layout.hpp.
#pragma once

#include "installer/layout.hpp"
#include "installer/verify.hpp"
