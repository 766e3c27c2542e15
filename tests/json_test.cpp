// Strict JSON (json.hpp): what RFC 8259 allows reads as python3's json reads
// it, and what I-JSON (RFC 7493) or our limits forbid is refused with the
// offset. python3 is the independent reader; where it is laxer than RFC 8259
// (NaN, lone surrogates, duplicate names) the RFC decides.
#include "support.hpp"

#include <ukikit/json.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace ukikit;
namespace t = ukikit::test;

// python3 reading `text` with duplicates and NaN refused, printed
// canonically; "error" when it refuses the text.
std::string python_reads(std::string_view text) {
  t::temp_dir dir;
  t::write_file(dir / "x.json", text);
  const char* script =
      "import json,sys\n"
      "def pairs(p):\n"
      "  keys=[k for k,_ in p]\n"
      "  if len(set(keys))!=len(keys): raise ValueError('dup')\n"
      "  return dict(p)\n"
      "def const(c): raise ValueError(c)\n"
      "try: d=json.loads(open(sys.argv[1],'rb').read().decode('utf-8'),"
      "object_pairs_hook=pairs,parse_constant=const)\n"
      "except Exception: sys.stdout.write('error'); sys.exit(0)\n"
      "sys.stdout.write(json.dumps(d,sort_keys=True,separators=(',',':'),ensure_ascii=False))\n";
  auto r =
      t::run("python3 -c " + t::sh_quote(script) + " " + t::sh_quote((dir / "x.json").string()));
  EXPECT_EQ(r.status, 0);
  return r.out;
}

TEST(json, reads_valid_json_as_python_does_and_writes_it_back) {
  UKIKIT_NEED_TOOL("python3");
  const std::vector<std::string> texts = {
      "{}",
      "[]",
      "0",
      "-0",
      "1.5e-3",
      "-12E+2",
      "true",
      "null",
      "\"\"",
      " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n",
      R"({"esc":"\" \\ \/ \b \f \n \r \t \u0000 \u001f \u00e9 \u20ac \ud83d\udce6"})",
      "{\"raw\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6 \x7f\"}",
      R"([1,[2,[3,[4]]],{"":{"":null}}])",
      R"({"big":123456789012345678901234567890,"neg":-9223372036854775808})"};
  for (const auto& text : texts) {
    auto v = json::parse(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.error().message();
    const std::string ours = json::dump(*v);
    EXPECT_EQ(python_reads(ours), python_reads(text)) << text;
    EXPECT_NE(python_reads(text), "error") << text;
    // Writing is one spelling: the written text reads back equal and
    // writes the same bytes.
    auto back = json::parse(ours);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, *v);
    EXPECT_EQ(json::dump(*back), ours);
  }
}

TEST(json, refuses_what_rfc_8259_and_i_json_forbid_with_the_offset) {
  UKIKIT_NEED_TOOL("python3");
  struct bad {
    std::string text;
    std::size_t offset;
    bool python_refuses; // python3 (with duplicates and NaN refused) agrees
  };
  const std::vector<bad> cases = {
      {"", 0, true},
      {" ", 1, true},
      {"{\"a\":1,\"a\":2}", 7, true},
      {"[{\"x\":{\"k\":1,\"k\":1}}]", 13, true},
      {"01", 0, true},
      {"+1", 0, true},
      {"1.", 2, true},
      {".5", 0, true},
      {"1e", 2, true},
      {"NaN", 0, true},
      {"[1,]", 3, true},
      {"{\"a\":1,}", 7, true},
      {"{'a':1}", 1, true},
      {"[1] [2]", 4, true},
      {"\"\t\"", 1, true},
      {"\"\\x\"", 1, true},
      {"\"\\u12\"", 3, true},
      {"\"\xff\"", 1, true},
      {"\"\xc0\x80\"", 1, true},
      {"\"\xed\xa0\x80\"", 1, true},
      {"\"\xf4\x90\x80\x80\"", 1, true},
      {"\"abc", 0, true},
      {"\xef\xbb\xbf{}", 0, true},
      {"\"\\ud800\"", 1, false},        // python3 keeps lone surrogates
      {"\"\\udc00\\ud800\"", 1, false}, // a low surrogate first
      {"\"\\ud800\\u0041\"", 1, false}, // a high one not followed by a low one
      {"truex", 4, true},
      {"nul", 0, true},
  };
  for (const auto& c : cases) {
    auto v = json::parse(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.error().code(), errc::malformed) << c.text;
    ASSERT_TRUE(v.error().has_offset()) << c.text;
    EXPECT_EQ(v.error().offset(), c.offset) << c.text << ": " << v.error().message();
    EXPECT_TRUE(json::detail::utf8_valid(v.error().message())) << c.text;
    if (c.python_refuses) {
      EXPECT_EQ(python_reads(c.text), "error") << c.text;
    }
  }
}

TEST(json, limits_show_the_limit) {
  json::limits lim;
  lim.max_size = 3;
  auto big = json::parse("[1,2]", lim);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), errc::limit_exceeded);
  EXPECT_NE(big.error().message().find("5 > 3"), std::string::npos) << big.error().message();
  lim = {};
  lim.max_depth = 2;
  EXPECT_TRUE(json::parse("[[1]]", lim).ok());
  auto deep = json::parse("[[[1]]]", lim);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code(), errc::limit_exceeded);
  EXPECT_EQ(deep.error().offset(), 2u);
}

TEST(json, integers_convert_only_in_range) {
  EXPECT_EQ(json::parse("9223372036854775807")->as_int64(), INT64_MAX);
  EXPECT_EQ(json::parse("-9223372036854775808")->as_int64(), INT64_MIN);
  EXPECT_FALSE(json::parse("9223372036854775808")->as_int64());
  EXPECT_FALSE(json::parse("-9223372036854775809")->as_int64());
  EXPECT_FALSE(json::parse("1.0")->as_int64());
  EXPECT_FALSE(json::parse("1e2")->as_int64());
  EXPECT_TRUE(json::parse("1e2")->is_fractional());
  EXPECT_EQ(json::parse("-0")->as_int64(), 0);
}

} // namespace
