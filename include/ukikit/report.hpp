// report: what the tools report, as library calls. Each report is data plus
// its JSON, which is exactly what the tool prints with --json: an embedder
// that calls the same function gets the same bytes (report::json_text).
//
//   report/json.hpp    json_text(): the tools' JSON text
//   report/uki.hpp     inspect_uki(): ukiinspect on a PE image or UKI
//   report/verify.hpp  verify_uki(): ukiverify's verdict, load_databases()
#pragma once

#include "report/json.hpp"
#include "report/uki.hpp"
#include "report/verify.hpp"
