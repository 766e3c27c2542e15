// measure: PCR 11 prediction exactly as systemd-measure computes it, and
// .pcrsig (policy digest, fingerprint, sign, parse, verify).
//
//   measure/pcr11.hpp   sections in stub order, banks, phase paths,
//                       predict(), explain(), JSON as systemd-measure prints it
//   measure/pcrsig.hpp  policy_digest(), public_key_fingerprint(), sign(),
//                       parse_pcrsig(), verify()
#pragma once

#include "measure/pcr11.hpp"
#include "measure/pcrsig.hpp"
#include "measure/precompute.hpp"
