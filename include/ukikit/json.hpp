// Strict JSON: a bounded reader that keeps where every value is, and a
// compact writer with one spelling per value.
//
// The reader takes RFC 8259 JSON as I-JSON (RFC 7493) narrows it, which is
// what the OCI image-spec (main) requires of manifests, indexes and configs:
// - the input is UTF-8, checked byte by byte (no overlong forms, no encoded
//   surrogates, nothing above U+10FFFF), in strings, keys and between them;
//   a byte order mark is refused;
// - `\u` escapes that are surrogates must pair (a lone one is an error);
// - no member name twice in one object, at any depth;
// - no raw control characters in strings; whitespace is space, tab, LF, CR;
// - numbers follow the RFC grammar (no leading zeros, no `+`, no NaN) and
//   are kept as written; as_int64() converts an integer literal in range;
// - input longer than `limits::max_size` or nesting deeper than
//   `limits::max_depth` is refused before anything is built from it.
// Every error carries the byte offset where it was found. It never throws.
// Memory: the tree takes up to about 50 bytes per input byte for hostile
// input (many tiny values; about 200 MiB at the 4 MiB default), far less
// for real documents.
//
// Why not nlohmann's SAX parser (as measure/pcrsig.hpp uses): its events do
// not say where a value is, and OCI errors must point at the member that is
// wrong (a duplicate key, a negative size) long after the lexer passed it.
//
// The writer prints compact JSON (no whitespace), members in the order they
// are held, strings with only `"`, `\` and the control characters escaped
// (`\b \f \n \r \t`, else `\u00xx`), everything else as raw UTF-8; bytes
// that are not UTF-8 are written as U+FFFD, so the output is always valid.
// Numbers are written as their literal.
#pragma once

#include "bytes.hpp"
#include "result.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::json {

struct limits {
  // Bytes of JSON. OCI manifests are expected up to 4 MiB (distribution-spec),
  // and the containerd importer's unbounded reads were CVE-2023-25153.
  std::size_t max_size = 4 * 1024 * 1024;
  // Containers open at once. OCI documents nest 5 deep (index, manifests,
  // descriptor, platform, os.features); configs a little more.
  unsigned max_depth = 64;
};

enum class kind : std::uint8_t { null, boolean, number, string, array, object };

constexpr std::string_view kind_name(kind k) noexcept {
  switch (k) {
  case kind::null: return "null";
  case kind::boolean: return "a boolean";
  case kind::number: return "a number";
  case kind::string: return "a string";
  case kind::array: return "a list";
  case kind::object: return "an object";
  }
  return "unknown";
}

struct member;

// One JSON value. `offset` is where it starts in the input (0 for values
// built in code); equality ignores offsets.
struct value {
  json::kind kind = json::kind::null;
  bool boolean = false;
  std::string text;            // string: the decoded UTF-8; number: the literal as written
  std::vector<value> items;    // array
  std::vector<member> members; // object, in input order
  std::uint64_t offset = 0;

  static value make_string(std::string s);
  static value make_number(std::int64_t n);
  static value make_bool(bool b);
  static value make_array();
  static value make_object();

  bool is(json::kind k) const noexcept { return kind == k; }

  // The member called `key` of an object, or null.
  const value* find(std::string_view key) const noexcept;
  // Appends a member (no check for duplicates: the caller builds objects).
  value& add(std::string key, value v);

  // An integer literal (no fraction, no exponent) that fits int64.
  std::optional<std::int64_t> as_int64() const noexcept {
    if (kind != json::kind::number || text.empty()) return std::nullopt;
    std::size_t i = 0;
    const bool negative = text[0] == '-';
    if (negative) i = 1;
    if (i == text.size()) return std::nullopt;
    std::uint64_t magnitude = 0;
    const std::uint64_t limit =
        negative ? std::uint64_t{1} << 63 : std::uint64_t{std::numeric_limits<std::int64_t>::max()};
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') return std::nullopt;
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (magnitude > (limit - d) / 10) return std::nullopt;
      magnitude = magnitude * 10 + d;
    }
    if (negative)
      return magnitude == (std::uint64_t{1} << 63) ? std::numeric_limits<std::int64_t>::min()
                                                   : -static_cast<std::int64_t>(magnitude);
    return static_cast<std::int64_t>(magnitude);
  }
  // The literal has a fraction or an exponent.
  bool is_fractional() const noexcept {
    return kind == json::kind::number && text.find_first_of(".eE") != std::string::npos;
  }

  friend bool operator==(const value& a, const value& b) noexcept;
};

struct member {
  std::string key;
  json::value value;
  std::uint64_t key_offset = 0; // where the key's opening quote is

  friend bool operator==(const member& a, const member& b) noexcept {
    return a.key == b.key && a.value == b.value;
  }
};

using object = std::vector<member>;

inline bool operator==(const value& a, const value& b) noexcept {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
  case kind::null: return true;
  case kind::boolean: return a.boolean == b.boolean;
  case kind::number:
  case kind::string: return a.text == b.text;
  case kind::array: return a.items == b.items;
  case kind::object: return a.members == b.members;
  }
  return false;
}

inline value value::make_string(std::string s) {
  value v;
  v.kind = json::kind::string;
  v.text = std::move(s);
  return v;
}
inline value value::make_number(std::int64_t n) {
  value v;
  v.kind = json::kind::number;
  v.text = std::to_string(n);
  return v;
}
inline value value::make_bool(bool b) {
  value v;
  v.kind = json::kind::boolean;
  v.boolean = b;
  return v;
}
inline value value::make_array() {
  value v;
  v.kind = json::kind::array;
  return v;
}
inline value value::make_object() {
  value v;
  v.kind = json::kind::object;
  return v;
}

inline const value* value::find(std::string_view key) const noexcept {
  for (const auto& m : members)
    if (m.key == key) return &m.value;
  return nullptr;
}

inline value& value::add(std::string key, value v) {
  members.push_back(member{std::move(key), std::move(v), 0});
  return members.back().value;
}

namespace detail {

// Decodes one UTF-8 sequence at s[i]; returns its length (1-4) and the code
// point, or 0 when the bytes are not well-formed UTF-8 (RFC 3629 table).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0fu;
    if (c == 0xe0) lo = 0xa0;      // no overlong forms
    else if (c == 0xed) hi = 0x9f; // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07u;
    if (c == 0xf0) lo = 0x90;      // no overlong forms
    else if (c == 0xf4) hi = 0x8f; // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const unsigned char t = b(k);
    if (t < (k == 1 ? lo : 0x80) || t > (k == 1 ? hi : 0xbf)) return 0;
    cp = (cp << 6) | (t & 0x3fu);
  }
  return n;
}

// True when `s` is well-formed UTF-8.
inline bool utf8_valid(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8_sequence(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Text from the input for a message: at most `max` bytes, cut at a
// character boundary, control characters, quotes and bytes that are not
// UTF-8 as '?', so that a message is always valid UTF-8 (a JSON report can
// carry it) and one line.
inline std::string excerpt(std::string_view s, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8_sequence(s, i, cp);
    const std::size_t len = n == 0 ? 1 : n;
    if (out.size() + len > max) break;
    if (n == 0 || cp < 0x20 || cp == 0x7f || cp == '"') out.push_back('?');
    else out.append(s.substr(i, n));
    i += len;
  }
  if (i < s.size()) out += "...";
  return out;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

class reader {
public:
  reader(std::string_view in, const limits& lim) : in_(in), lim_(lim) {}

  result<value> document() {
    if (in_.size() > lim_.max_size)
      return error(errc::limit_exceeded, "json is larger than the limit (" +
                                             std::to_string(in_.size()) + " > " +
                                             std::to_string(lim_.max_size) + " bytes)");
    if (in_.substr(0, 3) == "\xef\xbb\xbf")
      return error(errc::malformed, "json starts with a byte order mark", 0);
    skip_space();
    value v;
    UKIKIT_TRY(parse_value(v, 0));
    skip_space();
    if (pos_ != in_.size()) return fail("json has data after the end of the document");
    return v;
  }

private:
  error fail(std::string what) const { return error(errc::malformed, std::move(what), pos_); }
  error fail_at(std::string what, std::size_t at) const {
    return error(errc::malformed, std::move(what), at);
  }

  bool at_end() const noexcept { return pos_ >= in_.size(); }
  char peek() const noexcept { return in_[pos_]; }

  void skip_space() noexcept {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++pos_;
  }

  bool literal(std::string_view word) noexcept {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  result<void> parse_value(value& v, unsigned depth) {
    if (at_end()) return fail("json ends where a value should start");
    v.offset = pos_;
    const char c = peek();
    switch (c) {
    case '{': return parse_object(v, depth);
    case '[': return parse_array(v, depth);
    case '"': v.kind = kind::string; return parse_string(v.text);
    case 't':
    case 'f':
    case 'n':
      if (literal("true")) {
        v.kind = kind::boolean;
        v.boolean = true;
      } else if (literal("false")) {
        v.kind = kind::boolean;
      } else if (literal("null")) {
        v.kind = kind::null;
      } else {
        return fail("json has an unknown word");
      }
      return success();
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return parse_number(v);
      return fail("json has an unexpected character " + describe(c));
    }
  }

  static std::string describe(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
    return "byte " + hex(u);
  }

  // Nesting is recursion here: whatever the caller asks, never deeper than this.
  static constexpr unsigned hard_max_depth = 1000;

  result<void> enter(unsigned depth) const {
    if (depth >= lim_.max_depth || depth >= hard_max_depth)
      return error(errc::limit_exceeded,
                   "json nests deeper than " +
                       std::to_string(std::min(lim_.max_depth, hard_max_depth)) + " levels",
                   pos_);
    return success();
  }

  result<void> parse_array(value& v, unsigned depth) {
    UKIKIT_TRY(enter(depth));
    v.kind = kind::array;
    ++pos_; // '['
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return success();
    }
    for (;;) {
      v.items.emplace_back();
      UKIKIT_TRY(parse_value(v.items.back(), depth + 1));
      skip_space();
      if (at_end()) return fail("json ends inside a list");
      if (peek() == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return success();
      }
      return fail("json list has " + describe(peek()) + " where ',' or ']' should be");
    }
  }

  result<void> parse_object(value& v, unsigned depth) {
    UKIKIT_TRY(enter(depth));
    v.kind = kind::object;
    ++pos_; // '{'
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return success();
    }
    for (;;) {
      if (at_end() || peek() != '"') return fail("json object member does not start with a name");
      member m;
      m.key_offset = pos_;
      UKIKIT_TRY(parse_string(m.key));
      for (const auto& other : v.members)
        if (other.key == m.key)
          return fail_at("json object has the name \"" + excerpt(m.key, 64) +
                             "\" twice (first at " + hex(other.key_offset) + ")",
                         m.key_offset);
      skip_space();
      if (at_end() || peek() != ':') return fail("json object member has no ':' after its name");
      ++pos_;
      skip_space();
      UKIKIT_TRY(parse_value(m.value, depth + 1));
      v.members.push_back(std::move(m));
      skip_space();
      if (at_end()) return fail("json ends inside an object");
      if (peek() == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return success();
      }
      return fail("json object has " + describe(peek()) + " where ',' or '}' should be");
    }
  }

  result<void> parse_number(value& v) {
    const std::size_t start = pos_;
    const auto digits = [&] {
      const std::size_t from = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - from;
    };
    if (peek() == '-') ++pos_;
    if (at_end()) return fail("json number has no digits");
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9')
        return fail_at("json number has a leading zero", start);
    } else if (digits() == 0) {
      return fail("json number has no digits");
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (digits() == 0) return fail("json number has no digits after '.'");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) return fail("json number has no digits in its exponent");
    }
    v.kind = kind::number;
    v.text.assign(in_.substr(start, pos_ - start));
    return success();
  }

  result<std::uint32_t> hex4() {
    if (in_.size() - pos_ < 4) return fail("json \\u escape is cut short");
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in_[pos_];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return fail("json \\u escape has a character that is not hex");
      v = (v << 4) | static_cast<std::uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  result<void> parse_escape(std::string& out) {
    const std::size_t start = pos_; // at the backslash
    ++pos_;
    if (at_end()) return fail("json string ends inside an escape");
    const char c = peek();
    ++pos_;
    switch (c) {
    case '"': out.push_back('"'); return success();
    case '\\': out.push_back('\\'); return success();
    case '/': out.push_back('/'); return success();
    case 'b': out.push_back('\b'); return success();
    case 'f': out.push_back('\f'); return success();
    case 'n': out.push_back('\n'); return success();
    case 'r': out.push_back('\r'); return success();
    case 't': out.push_back('\t'); return success();
    case 'u': break;
    default: return fail_at("json string has an unknown escape \\" + describe(c), start);
    }
    UKIKIT_TRY_ASSIGN(std::uint32_t cp, hex4());
    if (cp >= 0xdc00 && cp <= 0xdfff)
      return fail_at("json string has a lone low surrogate \\u" + hex(cp).substr(2), start);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (in_.substr(pos_, 2) != "\\u")
        return fail_at("json string has a lone high surrogate \\u" + hex(cp).substr(2), start);
      pos_ += 2;
      UKIKIT_TRY_ASSIGN(std::uint32_t low, hex4());
      if (low < 0xdc00 || low > 0xdfff)
        return fail_at("json string has a high surrogate \\u" + hex(cp).substr(2) +
                           " not followed by a low one",
                       start);
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(out, cp);
    return success();
  }

  result<void> parse_string(std::string& out) {
    const std::size_t start = pos_;
    ++pos_; // '"'
    for (;;) {
      if (at_end()) return fail_at("json string has no closing quote", start);
      const char c = peek();
      if (c == '"') {
        ++pos_;
        return success();
      }
      if (c == '\\') {
        UKIKIT_TRY(parse_escape(out));
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("json string has a raw control character " + describe(c) +
                    " (write it as an escape)");
      std::uint32_t cp = 0;
      const std::size_t n = utf8_sequence(in_, pos_, cp);
      if (n == 0) return fail("json string has bytes that are not UTF-8");
      out.append(in_.substr(pos_, n));
      pos_ += n;
    }
  }

  std::string_view in_;
  limits lim_;
  std::size_t pos_ = 0;
};

inline void write_value(const value& v, std::string& out);

} // namespace detail

inline result<value> parse(std::string_view text, const limits& lim = {}) {
  return detail::reader(text, lim).document();
}

inline result<value> parse(byte_span bytes, const limits& lim = {}) {
  return parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), lim);
}

// Appends `s` as a JSON string (quoted, escaped as described above).
inline void write_string(std::string_view s, std::string& out) {
  constexpr char digits[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      ++i;
      continue;
    case '\\':
      out += "\\\\";
      ++i;
      continue;
    case '\b':
      out += "\\b";
      ++i;
      continue;
    case '\f':
      out += "\\f";
      ++i;
      continue;
    case '\n':
      out += "\\n";
      ++i;
      continue;
    case '\r':
      out += "\\r";
      ++i;
      continue;
    case '\t':
      out += "\\t";
      ++i;
      continue;
    default: break;
    }
    if (c < 0x20) {
      out += "\\u00";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xf]);
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = detail::utf8_sequence(s, i, cp);
    if (n == 0) {
      out += "\xef\xbf\xbd"; // U+FFFD for a byte that is not UTF-8
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out.push_back('"');
}

namespace detail {
inline void write_value(const value& v, std::string& out) {
  switch (v.kind) {
  case kind::null: out += "null"; return;
  case kind::boolean: out += v.boolean ? "true" : "false"; return;
  case kind::number: out += v.text.empty() ? "0" : v.text; return;
  case kind::string: write_string(v.text, out); return;
  case kind::array:
    out.push_back('[');
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      if (i) out.push_back(',');
      write_value(v.items[i], out);
    }
    out.push_back(']');
    return;
  case kind::object:
    out.push_back('{');
    for (std::size_t i = 0; i < v.members.size(); ++i) {
      if (i) out.push_back(',');
      write_string(v.members[i].key, out);
      out.push_back(':');
      write_value(v.members[i].value, out);
    }
    out.push_back('}');
    return;
  }
}
} // namespace detail

// Compact JSON of `v`, no trailing newline.
inline std::string dump(const value& v) {
  std::string out;
  detail::write_value(v, out);
  return out;
}

} // namespace ukikit::json
