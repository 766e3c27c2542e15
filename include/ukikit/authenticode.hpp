// Authenticode for PE images: the image digest as a list of byte ranges,
// the certificate table walked as EDK2 walks it, PKCS#7 SignedData parsed
// and verified as firmware does (no time check, chain to any trust anchor),
// and signing that gives identical bytes when repeated (RSA keys).
//
// Rules: reference/uki-signing-pcr.md §4 (Microsoft Authenticode PE spec,
// EDK2 DxeImageVerificationLib, sbsigntools, go-uefi).
//
// One header per concern, all included here: authenticode/ranges.hpp (the
// image digest), authenticode/table.hpp (finding codes, the certificate
// table walk), authenticode/pkcs7.hpp (object identifiers, SignedData),
// authenticode/signature_lists.hpp (EFI signature lists, db and dbx),
// authenticode/verify.hpp (the EDK2 decision) and authenticode/sign.hpp
// (writing signed images, signing).
#pragma once

#include "authenticode/pkcs7.hpp"
#include "authenticode/ranges.hpp"
#include "authenticode/sign.hpp"
#include "authenticode/signature_lists.hpp"
#include "authenticode/table.hpp"
#include "authenticode/verify.hpp"
