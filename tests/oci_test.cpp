// OCI model: the image-spec's own examples (v1.1.1, tests/data/oci/spec,
// copied from the spec's markdown), JSON that umoci and skopeo write, and
// hostile JSON. Expected values come from the spec, from python3's json
// module reading the same bytes, and from sha256sum; never from our output.
#include "support.hpp"

#include <ukikit/oci.hpp>
#include <ukikit/oci_writer.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace {

using namespace ukikit;
namespace t = ukikit::test;

const t::fs::path spec_dir = t::fs::path(UKIKIT_SOURCE_DIR) / "tests/data/oci/spec";

std::string text_of(const t::fs::path& p) {
  auto b = t::read_file(p);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// What sha256sum prints for a file: "sha256:<hex>".
std::string sha256sum(const t::fs::path& p) {
  auto r = t::run("sha256sum " + t::sh_quote(p.string()));
  EXPECT_EQ(r.status, 0);
  return "sha256:" + r.out.substr(0, 64);
}

std::string sha256sum_text(std::string_view text) {
  t::temp_dir dir;
  t::write_file(dir / "x", text);
  return sha256sum(dir / "x");
}

// python3's reading of a JSON file, printed canonically: keys sorted, no
// whitespace, non-ASCII as is.
std::string python_canonical(const t::fs::path& p) {
  const char* script = "import json,sys\n"
                       "d=json.load(open(sys.argv[1],'rb'))\n"
                       "sys.stdout.write(json.dumps(d,sort_keys=True,separators=(',',':'),"
                       "ensure_ascii=False))\n";
  auto r = t::run("python3 -c " + t::sh_quote(script) + " " + t::sh_quote(p.string()));
  EXPECT_EQ(r.status, 0) << p;
  return r.out;
}

std::string python_canonical_text(std::string_view text) {
  t::temp_dir dir;
  t::write_file(dir / "x.json", text);
  return python_canonical(dir / "x.json");
}

// One field as python3 reads it: `expr` over `d`, printed with json.dumps.
std::string python_field(const t::fs::path& p, std::string_view expr) {
  const std::string script = "import json,sys\nd=json.load(open(sys.argv[1],'rb'))\n"
                             "sys.stdout.write(json.dumps(" +
                             std::string(expr) + ",ensure_ascii=False))\n";
  auto r = t::run("python3 -c " + t::sh_quote(script) + " " + t::sh_quote(p.string()));
  EXPECT_EQ(r.status, 0) << expr;
  return r.out;
}

std::string json_string(std::string_view s) {
  std::string out;
  json::write_string(s, out);
  return out;
}

bool has_code(const finding_log& log, std::string_view code) {
  for (const auto& f : log)
    if (f.code == code) return true;
  return false;
}

template <class T> std::string dump(const T& x) { return oci::serialize(x); }

// ---- digests ------------------------------------------------------------------------

TEST(oci_digest, empty_descriptor_digest_is_the_specs_and_sha256sums) {
  UKIKIT_NEED_TOOL("sha256sum");
  auto d = oci::digest::compute(as_bytes(oci::empty_json));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->str(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(d->str(), sha256sum_text("{}"));
  EXPECT_EQ(d->str(), oci::empty_digest_text);
  EXPECT_EQ(base64_encode(as_bytes(oci::empty_json)), oci::empty_data);
  EXPECT_EQ(d->blob_path(),
            "blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

TEST(oci_digest, sha512_matches_sha512sum) {
  UKIKIT_NEED_TOOL("sha512sum");
  t::temp_dir dir;
  t::write_file(dir / "x", "hello oci\n");
  auto r = t::run("sha512sum " + t::sh_quote((dir / "x").string()));
  auto d = oci::digest::compute(as_bytes("hello oci\n"), hash::algorithm::sha512);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->str(), "sha512:" + r.out.substr(0, 128));
  auto p = oci::digest::parse(d->str());
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->verifiable());
  EXPECT_TRUE(p->verify(as_bytes("hello oci\n")).ok());
  auto bad = p->verify(as_bytes("hello oci"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), errc::checksum_mismatch);
}

TEST(oci_digest, accepts_the_specs_unregistered_examples_as_unverifiable) {
  for (std::string_view s :
       {"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        "blake3:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha384:ABC=", "a.b_c-d+e:x"}) {
    auto d = oci::digest::parse(s);
    ASSERT_TRUE(d.ok()) << s << ": " << d.error().message();
    EXPECT_EQ(d->str(), s);
    EXPECT_FALSE(d->verifiable()) << s;
    auto v = d->verify(as_bytes("x"));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code(), errc::unsupported) << s;
  }
}

TEST(oci_digest, rejects_every_grammar_violation) {
  const std::string hex64(64, 'a');
  const std::vector<std::string> cases = {std::string(""),
                                          std::string("sha256"),
                                          ":" + hex64,
                                          std::string("sha256:"),
                                          "SHA256:" + hex64,
                                          "Sha256:" + hex64,
                                          "sha256+:" + hex64,
                                          "+sha256:" + hex64,
                                          "sha..256:" + hex64,
                                          "sha 256:" + hex64,
                                          "sha256:" + hex64.substr(1),
                                          "sha256:" + hex64 + "a",
                                          "sha256:" + std::string(64, 'A'),
                                          "sha256:" + std::string(63, 'a') + "g",
                                          "sha256:" + hex64.substr(0, 32) + "/" +
                                              hex64.substr(0, 31),
                                          "sha512:" + hex64,
                                          "sha512:" + std::string(128, 'F'),
                                          std::string("foo:ab.cd"),
                                          std::string("foo:ab:cd"),
                                          std::string("foo:a b")};
  for (const std::string& s : cases) {
    auto d = oci::digest::parse(s);
    ASSERT_FALSE(d.ok()) << s;
    EXPECT_EQ(d.error().code(), errc::malformed) << s;
  }
}

TEST(oci_digest, chain_ids_are_sha256_of_the_text_as_sha256sum_computes_it) {
  UKIKIT_NEED_TOOL("sha256sum");
  auto a = *oci::digest::compute(as_bytes("layer a"));
  auto b = *oci::digest::compute(as_bytes("layer b"));
  auto c = *oci::digest::compute(as_bytes("layer c"));
  std::vector<oci::digest> diff_ids{a, b, c};
  auto ids = oci::chain_ids(diff_ids);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[0], a);
  const std::string ab = sha256sum_text(a.str() + " " + b.str());
  EXPECT_EQ((*ids)[1].str(), ab);
  EXPECT_EQ((*ids)[2].str(), sha256sum_text(ab + " " + c.str()));
  EXPECT_EQ(oci::chain_id(diff_ids)->str(), (*ids)[2].str());
  EXPECT_FALSE(oci::chain_id({}).ok());
}

// ---- media types --------------------------------------------------------------------

TEST(oci_media_type, layer_compression_from_the_media_type) {
  using oci::compression;
  EXPECT_EQ(oci::layer_compression("application/vnd.oci.image.layer.v1.tar"), compression::none);
  EXPECT_EQ(oci::layer_compression("application/vnd.oci.image.layer.v1.tar+gzip"),
            compression::gzip);
  EXPECT_EQ(oci::layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"),
            compression::zstd);
  EXPECT_EQ(oci::layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            compression::gzip);
  EXPECT_EQ(oci::layer_compression("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            compression::gzip);
  EXPECT_TRUE(oci::layer_type_of("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
                  ->nondistributable);
  EXPECT_FALSE(oci::layer_compression("application/vnd.oci.image.config.v1+json"));
  EXPECT_FALSE(oci::layer_compression("application/vnd.oci.image.layer.v1.tar+xz"));
  EXPECT_FALSE(oci::layer_compression("application/vnd.example+type"));
}

// ---- the spec's examples --------------------------------------------------------------

// Parses a spec example, checks its digest and size against sha256sum and
// the file, and that what we write reads in python3 as the original does.
template <class Parse>
auto spec_example(const char* name, Parse parse)
    -> decltype(parse(std::declval<byte_span>(), std::declval<finding_log&>())) {
  const auto path = spec_dir / name;
  const auto bytes = t::read_file(path);
  finding_log log;
  auto r = parse(byte_span(bytes), log);
  if (!r.ok()) {
    ADD_FAILURE() << name << ": " << r.error().message();
    return r;
  }
  EXPECT_EQ(r->digest.str(), sha256sum(path)) << name;
  EXPECT_EQ(r->size, static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(python_canonical_text(dump(r->value)), python_canonical(path)) << name;
  return r;
}

TEST(oci_spec, manifest_example) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  auto r = spec_example("manifest.json",
                        [](byte_span b, finding_log& l) { return oci::parse_manifest(b, l); });
  ASSERT_TRUE(r.ok());
  const auto path = spec_dir / "manifest.json";
  const auto& m = r->value;
  EXPECT_EQ(json_string(m.media_type), python_field(path, "d['mediaType']"));
  EXPECT_EQ(json_string(m.config.digest.str()), python_field(path, "d['config']['digest']"));
  EXPECT_EQ(std::to_string(m.config.size), python_field(path, "d['config']['size']"));
  ASSERT_EQ(std::to_string(m.layers.size()), python_field(path, "len(d['layers'])"));
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const std::string at = "d['layers'][" + std::to_string(i) + "]";
    EXPECT_EQ(json_string(m.layers[i].digest.str()), python_field(path, at + "['digest']"));
    EXPECT_EQ(std::to_string(m.layers[i].size), python_field(path, at + "['size']"));
    EXPECT_EQ(oci::layer_compression(m.layers[i].media_type), oci::compression::gzip);
  }
  ASSERT_TRUE(m.subject);
  EXPECT_EQ(json_string(m.subject->digest.str()), python_field(path, "d['subject']['digest']"));
  EXPECT_EQ(json_string(m.annotations.at("com.example.key2")),
            python_field(path, "d['annotations']['com.example.key2']"));
}

TEST(oci_spec, empty_descriptor_example_carries_its_data) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  auto r = spec_example("empty-descriptor.json",
                        [](byte_span b, finding_log& l) { return oci::parse_descriptor(b, l); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, oci::empty_descriptor(true));
  EXPECT_TRUE(oci::verify(r->value, as_bytes("{}")).ok());
  EXPECT_EQ(oci::verify(r->value, as_bytes("{ }")).error().code(), errc::checksum_mismatch);
}

TEST(oci_spec, artifact_examples) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  for (const char* name :
       {"artifact-minimal.json", "artifact-without-config.json", "artifact-with-config.json"}) {
    auto r =
        spec_example(name, [](byte_span b, finding_log& l) { return oci::parse_manifest(b, l); });
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_EQ(json_string(r->value.artifact_type),
              python_field(spec_dir / name, "d.get('artifactType', d['config']['mediaType'])"))
        << name;
  }
}

TEST(oci_spec, index_examples) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  for (const char* name : {"index.json", "index-artifact.json"}) {
    auto r = spec_example(name, [](byte_span b, finding_log& l) { return oci::parse_index(b, l); });
    ASSERT_TRUE(r.ok()) << name;
    const auto& i = r->value;
    ASSERT_EQ(std::to_string(i.manifests.size()),
              python_field(spec_dir / name, "len(d['manifests'])"));
    ASSERT_TRUE(i.manifests[0].platform);
    EXPECT_EQ(json_string(i.manifests[0].platform->architecture),
              python_field(spec_dir / name, "d['manifests'][0]['platform']['architecture']"));
  }
}

TEST(oci_spec, config_example) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  auto r = spec_example("config.json",
                        [](byte_span b, finding_log& l) { return oci::parse_config(b, l); });
  ASSERT_TRUE(r.ok());
  const auto path = spec_dir / "config.json";
  const auto& c = r->value;
  EXPECT_EQ(json_string(c.architecture), python_field(path, "d['architecture']"));
  EXPECT_EQ(json_string(c.config.user), python_field(path, "d['config']['User']"));
  EXPECT_EQ(json_string(c.config.env.at(1)), python_field(path, "d['config']['Env'][1]"));
  EXPECT_EQ(json_string(c.config.cmd.at(2)), python_field(path, "d['config']['Cmd'][2]"));
  EXPECT_EQ(std::to_string(c.config.volumes.size()),
            python_field(path, "len(d['config']['Volumes'])"));
  EXPECT_EQ(json_string(c.rootfs.diff_ids.at(1).str()),
            python_field(path, "d['rootfs']['diff_ids'][1]"));
  ASSERT_EQ(std::to_string(c.history.size()), python_field(path, "len(d['history'])"));
  EXPECT_TRUE(c.history[1].empty_layer);
  EXPECT_EQ(json_string(c.history[1].created_by),
            python_field(path, "d['history'][1]['created_by']"));
}

TEST(oci_spec, descriptor_examples) {
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  for (const char* name :
       {"descriptor.json", "descriptor-urls.json", "descriptor-artifact-type.json"}) {
    auto r =
        spec_example(name, [](byte_span b, finding_log& l) { return oci::parse_descriptor(b, l); });
    ASSERT_TRUE(r.ok()) << name;
  }
}

// ---- what we write ----------------------------------------------------------------------

oci::descriptor full_descriptor() {
  oci::descriptor d;
  d.media_type = std::string(oci::media_type::manifest);
  d.digest = *oci::digest::compute(as_bytes("{}"));
  d.size = 2;
  d.urls = {"https://example.com/a"};
  d.annotations = {{"z.key", "last"},
                   {"a.key", "tab\there \"quoted\" \\ \x01 é \xf0\x9f\x93\xa6 <&>"}};
  d.data = std::vector<std::byte>{std::byte{'{'}, std::byte{'}'}};
  d.platform = oci::platform{"arm64", "linux", "1.0", {"win32k"}, "v8", {"f"}, {}};
  d.artifact_type = "application/vnd.example";
  return d;
}

TEST(oci_writer, writes_compact_json_in_the_documented_key_order) {
  oci::descriptor d = full_descriptor();
  d.data.reset();
  d.annotations = {{"b", "2"}, {"a", "1"}};
  EXPECT_EQ(
      dump(d),
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"urls":["https://example.com/a"],"annotations":{"a":"1","b":"2"},"platform":{"architecture":"arm64","os":"linux","os.version":"1.0","os.features":["win32k"],"variant":"v8","features":["f"]},"artifactType":"application/vnd.example"})");
  EXPECT_EQ(
      dump(oci::empty_descriptor()),
      R"({"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2})");
}

TEST(oci_writer, everything_written_reads_back_equal_and_in_python) {
  UKIKIT_NEED_TOOL("python3");
  oci::manifest m;
  m.media_type = std::string(oci::media_type::manifest);
  m.config = full_descriptor();
  m.config.media_type = std::string(oci::media_type::config);
  m.layers = {full_descriptor(), oci::empty_descriptor(true)};
  m.subject = full_descriptor();
  m.annotations = {{"org.opencontainers.image.title", "t\u00e9st\n"}};
  m.extra.push_back({"x-unknown", *json::parse(R"({"n":[1.5e3,-0,null,true]})"), 0});
  const std::string text = dump(m);
  finding_log log;
  auto back = oci::parse_manifest(as_bytes(text), log);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->value, m);
  EXPECT_EQ(dump(back->value), text);
  // python3 reads the same strings we hold.
  t::temp_dir dir;
  t::write_file(dir / "m.json", text);
  EXPECT_EQ(python_field(dir / "m.json", "d['layers'][0]['annotations']['a.key']"),
            R"("tab\there \"quoted\" \\ \u0001 é 📦 <&>")");
  EXPECT_EQ(python_field(dir / "m.json", "d['x-unknown']['n'][0]"), "1500.0");

  oci::image_config c;
  c.created = "2024-01-01T00:00:00Z";
  c.architecture = "amd64";
  c.os = "linux";
  c.config.env = {"A=1"};
  c.config.exposed_ports = {"80/tcp", "443/tcp"};
  c.config.labels = {{"k", "v"}};
  c.rootfs.diff_ids = {*oci::digest::compute(as_bytes("x"))};
  c.history = {{"2024-01-01T00:00:00Z", "sh", "me", "c", true, {}}};
  const std::string ctext = dump(c);
  auto cback = oci::parse_config(as_bytes(ctext), log);
  ASSERT_TRUE(cback.ok()) << cback.error().message();
  EXPECT_EQ(cback->value, c);
  t::write_file(dir / "c.json", ctext);
  EXPECT_EQ(python_field(dir / "c.json", "sorted(d['config']['ExposedPorts'])"),
            R"(["443/tcp", "80/tcp"])");

  oci::index i;
  i.media_type = std::string(oci::media_type::index);
  i.manifests = {full_descriptor()};
  i.subject = full_descriptor();
  const std::string itext = dump(i);
  auto iback = oci::parse_index(as_bytes(itext), log);
  ASSERT_TRUE(iback.ok()) << iback.error().message();
  EXPECT_EQ(iback->value, i);
  EXPECT_EQ(python_canonical_text(itext).empty(), false);
}

TEST(oci_writer, strings_read_back_in_python_as_written) {
  UKIKIT_NEED_TOOL("python3");
  // Every control character, quote, backslash, DEL, multi-byte UTF-8, and a
  // byte that is not UTF-8 (written as U+FFFD).
  std::string value;
  for (int c = 0; c < 0x20; ++c) value.push_back(static_cast<char>(c));
  value += "\"\\/\x7f\u00e9\u20ac\U0001F4E6";
  oci::descriptor d = oci::empty_descriptor();
  d.annotations = {{"k", value + "\xff"}};
  const std::string text = dump(d);
  for (char c : text) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control character";
  t::temp_dir dir;
  t::write_file(dir / "d.json", text);
  auto r = t::run("python3 -c " +
                  t::sh_quote("import json,sys\n"
                              "d=json.load(open(sys.argv[1],'rb'))\n"
                              "sys.stdout.buffer.write(d['annotations']['k'].encode('utf-8'))") +
                  " " + t::sh_quote((dir / "d.json").string()));
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out, value + "\xef\xbf\xbd");
  // What python3 writes for the same string reads as the same value here.
  finding_log log;
  auto back = oci::parse_descriptor(as_bytes(text), log);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->value.annotations.at("k"), value + "\xef\xbf\xbd");
}

// ---- hostile and wrong input ------------------------------------------------------------

struct bad_case {
  const char* name;
  std::string json;
  errc code;
  std::string at; // the error's offset is where this text first occurs (empty: not checked)
};

const std::string sha_a = "sha256:" + std::string(64, 'a');
const std::string cfg = R"({"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                        sha_a + R"(","size":2})";

std::string manifest_with(std::string layer_fields, std::string extra = "") {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)" +
         cfg + R"(,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",)" +
         layer_fields + "}]" + extra + "}";
}

std::string layer(std::string digest, std::string size) {
  return R"("digest":")" + digest + R"(","size":)" + size;
}

TEST(oci_parse, rejects_hostile_and_wrong_manifests_with_the_offset) {
  const std::string ok_layer = layer(sha_a, "1");
  std::vector<bad_case> cases = {
      {"duplicate top key", manifest_with(ok_layer, R"(,"schemaVersion":2)"), errc::malformed,
       R"("schemaVersion":2})"},
      {"duplicate nested key", manifest_with(ok_layer + R"(,"size":1)"), errc::malformed,
       R"("size":1})"},
      {"duplicate annotation key", manifest_with(ok_layer, R"(,"annotations":{"a":"1","a":"2"})"),
       errc::malformed, R"("a":"2")"},
      {"invalid utf-8 in a value", manifest_with(ok_layer, ",\"annotations\":{\"a\":\"\xff\"}"),
       errc::malformed, "\xff"},
      {"invalid utf-8 in a key", manifest_with(ok_layer, ",\"annotations\":{\"\xc0\xaf\":\"x\"}"),
       errc::malformed, "\xc0"},
      {"overlong utf-8", manifest_with(ok_layer, ",\"annotations\":{\"a\":\"\xe0\x80\xaf\"}"),
       errc::malformed, "\xe0"},
      {"utf-8 surrogate", manifest_with(ok_layer, ",\"annotations\":{\"a\":\"\xed\xa0\x80\"}"),
       errc::malformed, "\xed"},
      {"lone high surrogate escape", manifest_with(ok_layer, R"(,"annotations":{"a":"x\ud800y"})"),
       errc::malformed, R"(\ud800)"},
      {"lone low surrogate escape in a key",
       manifest_with(ok_layer, R"(,"annotations":{"\udc00":"x"})"), errc::malformed, R"(\udc00)"},
      {"negative size", manifest_with(layer(sha_a, "-1")), errc::out_of_range, "-1"},
      {"fractional size", manifest_with(layer(sha_a, "1.5")), errc::malformed, "1.5"},
      {"exponent size", manifest_with(layer(sha_a, "1e3")), errc::malformed, "1e3"},
      {"size beyond int64", manifest_with(layer(sha_a, "9223372036854775808")), errc::out_of_range,
       "9223372036854775808"},
      {"size as a string", manifest_with(layer(sha_a, "\"1\"")), errc::malformed, "\"1\"}"},
      {"uppercase sha256", manifest_with(layer("sha256:" + std::string(64, 'A'), "1")),
       errc::malformed, "\"sha256:AAA"},
      {"short sha256", manifest_with(layer("sha256:abc", "1")), errc::malformed, "\"sha256:abc"},
      {"digest without algorithm", manifest_with(layer(":abc", "1")), errc::malformed, "\":abc"},
      {"digest with a bad algorithm", manifest_with(layer("sha-:abc", "1")), errc::malformed,
       "\"sha-:abc"},
      {"digest with a bad encoding", manifest_with(layer("foo:a.b", "1")), errc::malformed,
       "\"foo:a.b"},
      {"layers not a list", R"({"schemaVersion":2,"config":)" + cfg + R"(,"layers":{}})",
       errc::malformed, R"({}})"},
      {"schemaVersion 1", R"({"schemaVersion":1,"config":)" + cfg + R"(,"layers":[]})",
       errc::unsupported, "1,"},
      {"no schemaVersion", R"({"config":)" + cfg + R"(,"layers":[]})", errc::malformed, ""},
      {"no config",
       R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]})",
       errc::malformed, ""},
      {"layer without digest", manifest_with(R"("size":1)"), errc::malformed, ""},
      {"empty config without artifactType",
       R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" +
           std::string(oci::empty_digest_text) + R"(","size":2},"layers":[]})",
       errc::malformed, ""},
      {"data that is not the content", manifest_with(ok_layer + R"(,"data":"e30=")"),
       errc::checksum_mismatch, "\"e30=\""},
      {"data that is not base64", manifest_with(ok_layer + R"(,"data":"e30")"), errc::malformed,
       "\"e30\""},
      {"index and manifest at once",
       R"({"schemaVersion":2,"manifests":[],"config":)" + cfg + R"(,"layers":[]})", errc::malformed,
       ""},
      {"schema 1",
       R"({"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"})",
       errc::unsupported, ""},
      {"trailing data", manifest_with(ok_layer) + " x", errc::malformed, "x"},
      {"leading zero", manifest_with(layer(sha_a, "01")), errc::malformed, "01"},
      {"raw control character", manifest_with(ok_layer, ",\"annotations\":{\"a\":\"\n\"}"),
       errc::malformed, "\n"},
      {"byte order mark", "\xef\xbb\xbf" + manifest_with(ok_layer), errc::malformed, ""},
      {"cut short", manifest_with(ok_layer).substr(0, 60), errc::malformed, ""},
      {"not an object", "[]", errc::malformed, ""},
      {"empty", "", errc::malformed, ""},
  };
  for (const auto& c : cases) {
    finding_log log;
    auto r = oci::parse_manifest(as_bytes(c.json), log);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().code(), c.code) << c.name << ": " << r.error().message();
    EXPECT_TRUE(r.error().has_offset()) << c.name << ": " << r.error().message();
    if (!c.at.empty()) {
      EXPECT_EQ(r.error().offset(), c.json.find(c.at)) << c.name << ": " << r.error().message();
    }
  }
}

TEST(oci_parse, messages_stay_valid_utf8_when_they_quote_the_input) {
  // A long non-ASCII key twice, and a long non-ASCII rootfs.type: the
  // messages cut them at a character boundary.
  std::string key;
  for (int i = 0; i < 70; ++i) key += "\u00e9";
  finding_log log;
  auto dup = oci::parse_manifest(
      as_bytes(manifest_with(layer(sha_a, "1"),
                             R"(,"annotations":{")" + key + R"(":"1",")" + key + R"(":"2"})")),
      log);
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(json::detail::utf8_valid(dup.error().message())) << dup.error().message();
  EXPECT_NE(dup.error().message().find("\u00e9..."), std::string::npos);
  auto type = oci::parse_config(as_bytes(R"({"architecture":"a","os":"b","rootfs":{"type":")" +
                                         key + key + R"(","diff_ids":[]}})"),
                                log);
  ASSERT_FALSE(type.ok());
  EXPECT_TRUE(json::detail::utf8_valid(type.error().message())) << type.error().message();
  auto digest = oci::digest::parse("\xff\xfe" + key);
  ASSERT_FALSE(digest.ok());
  EXPECT_TRUE(json::detail::utf8_valid(digest.error().message())) << digest.error().message();
}

TEST(oci_parse, refuses_oversized_and_too_deep_input) {
  const std::string m = manifest_with(layer(sha_a, "1"));
  finding_log log;
  oci::parse_options small;
  small.limits.max_size = m.size() - 1;
  auto r = oci::parse_manifest(as_bytes(m), log, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
  small.limits.max_size = m.size();
  EXPECT_TRUE(oci::parse_manifest(as_bytes(m), log, small).ok());

  // The default limit is 4 MiB.
  std::string big = manifest_with(layer(sha_a, "1"), R"(,"annotations":{"a":")" +
                                                         std::string(4 * 1024 * 1024, 'x') + "\"}");
  r = oci::parse_manifest(as_bytes(big), log);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);

  std::string deep =
      manifest_with(layer(sha_a, "1"), R"(,"x":)" + std::string(100, '[') + std::string(100, ']'));
  r = oci::parse_manifest(as_bytes(deep), log);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
  EXPECT_EQ(r.error().offset(), deep.find('[', deep.find("\"x\"")) + 63);
  // Even a huge configured depth does not recurse without bound.
  oci::parse_options deep_ok;
  deep_ok.limits.max_depth = 1u << 30;
  std::string deeper = manifest_with(layer(sha_a, "1"),
                                     R"(,"x":)" + std::string(5000, '[') + std::string(5000, ']'));
  r = oci::parse_manifest(as_bytes(deeper), log, deep_ok);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
}

TEST(oci_parse, wrong_kind_is_an_error_both_ways) {
  const std::string index = text_of(spec_dir / "index.json");
  const std::string manifest = text_of(spec_dir / "manifest.json");
  finding_log log;
  auto a = oci::parse_manifest(as_bytes(index), log);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message().find("image index"), std::string::npos) << a.error().message();
  auto b = oci::parse_index(as_bytes(manifest), log);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("image manifest"), std::string::npos);
  // Both judged right by parse_manifest_or_index.
  EXPECT_TRUE(std::holds_alternative<oci::index>(
      oci::parse_manifest_or_index(as_bytes(index), log)->value));
  EXPECT_TRUE(std::holds_alternative<oci::manifest>(
      oci::parse_manifest_or_index(as_bytes(manifest), log)->value));
  // An index body that claims to be a manifest, and the reverse.
  std::string lying_index = index;
  lying_index.replace(lying_index.find("image.index"), 11, "image.manifest");
  EXPECT_FALSE(oci::parse_manifest_or_index(as_bytes(lying_index), log).ok());
  std::string lying_manifest = manifest;
  lying_manifest.replace(lying_manifest.find("image.manifest"), 14, "image.index");
  EXPECT_FALSE(oci::parse_manifest_or_index(as_bytes(lying_manifest), log).ok());
}

TEST(oci_parse, body_and_descriptor_media_types_must_agree) {
  const std::string manifest = text_of(spec_dir / "manifest.json");
  oci::descriptor d;
  d.media_type = std::string(oci::media_type::index);
  d.digest = *oci::digest::compute(as_bytes(manifest));
  d.size = static_cast<std::int64_t>(manifest.size());
  oci::parse_options opt;
  opt.described_by = &d;
  finding_log log;
  auto r = oci::parse_manifest_or_index(as_bytes(manifest), log, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("CVE-2021-41190"), std::string::npos);
  EXPECT_EQ(r.error().offset(), manifest.find("\"application/vnd.oci.image.manifest"));
  d.media_type = std::string(oci::media_type::manifest);
  EXPECT_TRUE(oci::parse_manifest(as_bytes(manifest), log, opt).ok());

  // Without a mediaType in the body, the descriptor's decides.
  const std::string bare = R"({"schemaVersion":2,"config":)" + cfg + R"(,"layers":[]})";
  d.digest = *oci::digest::compute(as_bytes(bare));
  d.size = static_cast<std::int64_t>(bare.size());
  finding_log log2;
  EXPECT_TRUE(oci::parse_manifest(as_bytes(bare), log2, opt).ok());
  EXPECT_TRUE(has_code(log2, oci::code::missing_media_type));
  d.media_type = std::string(oci::media_type::index);
  EXPECT_FALSE(oci::parse_manifest_or_index(as_bytes(bare), log2, opt).ok());

  // Size first, then digest.
  d.media_type = std::string(oci::media_type::manifest);
  d.size += 1;
  auto s = oci::parse_manifest(as_bytes(bare), log2, opt);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), errc::checksum_mismatch);
  EXPECT_NE(s.error().message().find("size"), std::string::npos);
  d.size -= 1;
  d.digest = *oci::digest::compute(as_bytes("other"));
  s = oci::parse_manifest(as_bytes(bare), log2, opt);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), errc::checksum_mismatch);
  EXPECT_NE(s.error().message().find("digest"), std::string::npos);
}

TEST(oci_parse, config_rules) {
  finding_log log;
  auto base = [](std::string rootfs, std::string more = "") {
    return R"({"architecture":"amd64","os":"linux","rootfs":)" + rootfs + more + "}";
  };
  EXPECT_TRUE(oci::parse_config(as_bytes(base(R"({"type":"layers","diff_ids":[]})")), log).ok());
  std::string wrong = base(R"({"type":"other","diff_ids":[]})");
  auto r = oci::parse_config(as_bytes(wrong), log);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().offset(), wrong.find("\"other\""));
  EXPECT_FALSE(oci::parse_config(as_bytes(base(R"({"diff_ids":[]})")), log).ok());
  EXPECT_FALSE(
      oci::parse_config(as_bytes(R"({"os":"linux","rootfs":{"type":"layers","diff_ids":[]}})"), log)
          .ok());
  std::string bad_diff = base(R"({"type":"layers","diff_ids":["sha256:00"]})");
  r = oci::parse_config(as_bytes(bad_diff), log);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().offset(), bad_diff.find("\"sha256:00\""));
  // Docker writes null for absent lists and maps; Go reads them as absent.
  auto nulls = oci::parse_config(
      as_bytes(base(
          R"({"type":"layers","diff_ids":[]})",
          R"(,"config":{"Cmd":null,"Entrypoint":null,"Labels":null,"Volumes":null,"Hostname":"h"},"container":"c")")),
      log);
  ASSERT_TRUE(nulls.ok()) << nulls.error().message();
  EXPECT_TRUE(nulls->value.config.cmd.empty());
  ASSERT_EQ(nulls->value.config.extra.size(), 1u);
  EXPECT_EQ(nulls->value.config.extra[0].key, "Hostname");
  ASSERT_EQ(nulls->value.extra.size(), 1u);
  // A config descriptor that is not an image config.
  oci::descriptor d = oci::empty_descriptor();
  oci::parse_options opt;
  opt.described_by = &d;
  EXPECT_EQ(oci::parse_config(as_bytes("{}"), log, opt).error().code(), errc::unsupported);
}

TEST(oci_parse, reports_findings_by_code) {
  finding_log log;
  std::string m =
      R"({"schemaVersion":2,"config":)" + cfg + R"(,"layers":[)" +
      R"({"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",)" +
      layer(sha_a, "1") + "}," + R"({"mediaType":"application/x-unknown",)" + layer(sha_a, "1") +
      "}," + R"({"mediaType":"application/vnd.oci.image.layer.v1.tar",)" +
      layer("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "1") + "}]}";
  auto r = oci::parse_manifest(as_bytes(m), log);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(has_code(log, oci::code::nondistributable));
  EXPECT_TRUE(has_code(log, oci::code::unknown_layer_type));
  EXPECT_TRUE(has_code(log, oci::code::unverifiable_digest));
  EXPECT_TRUE(has_code(log, oci::code::missing_media_type));
  for (const auto& f : log) EXPECT_FALSE(f.is_error()) << f.text();

  // "manifests": null (moby#47210): an error when strict, a finding otherwise.
  const std::string null_index = R"({"schemaVersion":2,"manifests":null})";
  EXPECT_FALSE(oci::parse_index(as_bytes(null_index), log).ok());
  oci::parse_options permissive;
  permissive.mode = strictness::permissive;
  finding_log log2;
  auto i = oci::parse_index(as_bytes(null_index), log2, permissive);
  ASSERT_TRUE(i.ok());
  EXPECT_TRUE(i->value.manifests.empty());
  EXPECT_TRUE(has_code(log2, oci::code::null_list));
}

TEST(oci_parse, size_limits_are_int64s) {
  finding_log log;
  auto max = oci::parse_manifest(as_bytes(manifest_with(layer(sha_a, "9223372036854775807"))), log);
  ASSERT_TRUE(max.ok()) << max.error().message();
  EXPECT_EQ(max->value.layers[0].size, std::numeric_limits<std::int64_t>::max());
  auto zero = oci::parse_manifest(as_bytes(manifest_with(layer(sha_a, "0"))), log);
  ASSERT_TRUE(zero.ok());
  auto min =
      oci::parse_manifest(as_bytes(manifest_with(layer(sha_a, "-9223372036854775808"))), log);
  ASSERT_FALSE(min.ok());
  EXPECT_EQ(min.error().code(), errc::out_of_range);
  // 64 levels deep is the default bound: the document at level 1, "x" at 2.
  auto nested = [](int n) {
    return manifest_with(layer(sha_a, "1"), R"(,"x":)" +
                                                std::string(static_cast<std::size_t>(n), '[') +
                                                std::string(static_cast<std::size_t>(n), ']'));
  };
  EXPECT_TRUE(oci::parse_manifest(as_bytes(nested(63)), log).ok());
  EXPECT_FALSE(oci::parse_manifest(as_bytes(nested(64)), log).ok());
}

TEST(oci_parse, created_must_be_rfc3339) {
  const auto config = [](std::string created) {
    return R"({"created":")" + created +
           R"(","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  };
  for (std::string good : {"2015-10-31T22:22:56.015925234Z", "2015-10-31t22:22:56z",
                           "2024-02-29T23:59:60+01:00", "1970-01-01T00:00:00-00:00"}) {
    finding_log log;
    ASSERT_TRUE(oci::parse_config(as_bytes(config(good)), log).ok()) << good;
    EXPECT_FALSE(has_code(log, oci::code::bad_timestamp)) << good;
  }
  for (std::string bad :
       {"2015-10-31", "2015-10-31 22:22:56Z", "2015-13-31T22:22:56Z", "2015-10-31T22:22:56",
        "2015-10-31T22:22:56.Z", "2015-10-31T22:22:56+0100", "yesterday"}) {
    finding_log log;
    const std::string text = config(bad);
    ASSERT_TRUE(oci::parse_config(as_bytes(text), log).ok()) << bad;
    ASSERT_TRUE(has_code(log, oci::code::bad_timestamp)) << bad;
    EXPECT_EQ(log.kept()[0].offset, text.find('"' + bad));
  }
}

TEST(oci_parse, layout_header) {
  finding_log log;
  auto h = oci::parse_layout_header(as_bytes(R"({"imageLayoutVersion":"1.0.0","x":1})"), log);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->value.image_layout_version, "1.0.0");
  EXPECT_EQ(dump(h->value), R"({"imageLayoutVersion":"1.0.0","x":1})");
  EXPECT_EQ(dump(oci::layout_header{}), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(
      oci::parse_layout_header(as_bytes(R"({"imageLayoutVersion":"2.0.0"})"), log).error().code(),
      errc::unsupported);
  EXPECT_FALSE(oci::parse_layout_header(as_bytes(R"({"imageLayoutVersion":1})"), log).ok());
  EXPECT_FALSE(oci::parse_layout_header(as_bytes(R"({})"), log).ok());
}

// ---- what umoci and skopeo write --------------------------------------------------------

// Every JSON file under `dir` (blobs, index.json, dir: manifest.json, docker
// archive config) is parsed by the matching parser; python3 reads the same
// as what we write back; digests are sha256sum's; and since we write in the
// Go types' key order, our bytes are the tool's bytes.
void check_tool_json(const t::fs::path& file, std::string_view kind) {
  SCOPED_TRACE(file.string());
  const auto bytes = t::read_file(file);
  finding_log log;
  std::string written;
  std::string digest;
  if (kind == "config") {
    auto r = oci::parse_config(bytes, log);
    ASSERT_TRUE(r.ok()) << r.error().message();
    written = dump(r->value);
    digest = r->digest.str();
  } else {
    auto r = oci::parse_manifest_or_index(bytes, log);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(kind == "index", std::holds_alternative<oci::index>(r->value));
    written = std::visit([](const auto& v) { return dump(v); }, r->value);
    digest = r->digest.str();
  }
  EXPECT_EQ(digest, sha256sum(file));
  EXPECT_EQ(python_canonical_text(written), python_canonical(file));
  std::string original(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  EXPECT_EQ(written, trim(original));
}

// What a blob of an OCI layout is, by python3's reading.
std::string blob_kind(const t::fs::path& p) {
  const char* script = "import json,sys\n"
                       "try: d=json.load(open(sys.argv[1],'rb'))\n"
                       "except Exception: print('binary'); sys.exit(0)\n"
                       "print('index' if 'manifests' in d else 'manifest' if 'layers' in d "
                       "else 'config' if 'rootfs' in d else 'other')\n";
  return trim(t::run("python3 -c " + t::sh_quote(script) + " " + t::sh_quote(p.string())).out);
}

TEST(oci_tools, reads_what_umoci_and_skopeo_write) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("tar");
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_TOOL("sha256sum");
  t::temp_dir dir;
  const auto q = [&](std::string_view name) { return t::sh_quote((dir / name).string()); };
  t::fs::create_directories(dir / "src");
  t::write_file(dir / "src/x", "hello\n");
  ASSERT_EQ(t::run("tar -cf " + q("some.tar") + " -C " + q("src") + " x").status, 0);
  const std::string quiet = " >/dev/null 2>&1";
  ASSERT_EQ(t::run("cd " + t::sh_quote(dir.path().string()) +
                   " && umoci init --layout L && umoci new --image L:t"
                   " && umoci config --image L:t --config.entrypoint /bin/x --architecture arm64"
                   " --config.label a=b --config.env X=1 --config.exposedports 80/tcp"
                   " && umoci raw add-layer --image L:t some.tar" +
                   quiet)
                .status,
            0);
  ASSERT_EQ(t::run("cd " + t::sh_quote(dir.path().string()) + " && skopeo copy oci:L:t oci:L2:t" +
                   quiet + " && skopeo copy --format v2s2 oci:L:t dir:D" + quiet +
                   " && skopeo copy oci:L:t docker-archive:A.tar:x:y" + quiet +
                   " && mkdir AX && tar -xf A.tar -C AX")
                .status,
            0);
  int manifests = 0, configs = 0, indexes = 0;
  for (const char* layout : {"L", "L2"}) {
    {
      const auto path = dir / layout / "oci-layout";
      finding_log log;
      auto h = oci::parse_layout_header(t::read_file(path), log);
      ASSERT_TRUE(h.ok()) << h.error().message();
      EXPECT_EQ(json_string(h->value.image_layout_version),
                python_field(path, "d['imageLayoutVersion']"));
      EXPECT_EQ(python_canonical_text(dump(h->value)), python_canonical(path));
    }
    check_tool_json(dir / layout / "index.json", "index");
    ++indexes;
    for (const auto& e : t::fs::directory_iterator(dir / layout / "blobs/sha256")) {
      const std::string k = blob_kind(e.path());
      if (k == "binary") continue;
      ASSERT_NE(k, "other") << e.path();
      check_tool_json(e.path(), k);
      ++(k == "config" ? configs : k == "index" ? indexes : manifests);
    }
  }
  // dir: holds the Docker v2s2 manifest and the config.
  check_tool_json(dir / "D/manifest.json", "manifest");
  ++manifests;
  {
    finding_log log;
    auto m = oci::parse_manifest(t::read_file(dir / "D/manifest.json"), log);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->value.media_type, oci::media_type::docker_manifest);
    EXPECT_EQ(m->value.config.media_type, oci::media_type::docker_config);
    EXPECT_EQ(oci::layer_compression(m->value.layers.at(0).media_type), oci::compression::gzip);
    EXPECT_TRUE(log.empty());
    const auto config = dir / "D" / std::string(m->value.config.digest.encoded());
    oci::parse_options opt;
    opt.described_by = &m->value.config;
    auto c = oci::parse_config(t::read_file(config), log, opt);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(json_string(c->value.architecture), python_field(config, "d['architecture']"));
    EXPECT_EQ(json_string(c->value.config.entrypoint.at(0)),
              python_field(config, "d['config']['Entrypoint'][0]"));
    EXPECT_EQ(json_string(c->value.config.labels.at("a")),
              python_field(config, "d['config']['Labels']['a']"));
    EXPECT_EQ(c->value.config.exposed_ports.count("80/tcp"), 1u);
    // The diff_id is the sha256 of the uncompressed tar umoci was given.
    EXPECT_EQ(c->value.rootfs.diff_ids.at(0).str(), sha256sum(dir / "some.tar"));
    EXPECT_EQ(oci::chain_id(c->value.rootfs.diff_ids)->str(), sha256sum(dir / "some.tar"));
  }
  // docker-archive: the config JSON.
  for (const auto& e : t::fs::directory_iterator(dir / "AX")) {
    if (e.path().extension() != ".json" || e.path().filename() == "manifest.json") continue;
    check_tool_json(e.path(), "config");
    ++configs;
  }
  EXPECT_GE(indexes, 2);
  EXPECT_GE(manifests, 4);
  EXPECT_GE(configs, 4);
}

} // namespace
