// The ukikit version; CMake reads it from here.
#pragma once

#define UKIKIT_VERSION_STRING "0.1.0"

namespace ukikit {
inline constexpr const char* version = UKIKIT_VERSION_STRING;
} // namespace ukikit
