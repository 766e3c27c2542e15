// The final tree of a layer stack (image/lookup.hpp) and the installer gate
// (installer/verify.hpp, `ukikit image verify` and `ukikit image extract`).
// Layers and images are made by Python's tarfile, gzip, hashlib and json
// (an independent writer: every digest and diff_id expected here is
// Python's); the UKIs are built by `ukikit build` from Debian's stubs and
// kernels and signed with throwaway keys made by openssl; PCR 11 is checked
// against systemd-measure.
#include <ukikit/image/lookup.hpp>
#include <ukikit/image/reference.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/installer/verify.hpp>
#include <ukikit/report/image.hpp>
#include <ukikit/report/verify.hpp>

#include "image_fixture.hpp"
#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace ukikit {
namespace {

namespace t = ukikit::test;
namespace image_fixture = ukikit::test::image_fixture;
using image_fixture::q;
using nlohmann::json;

// Writes layers and OCI layouts from a JSON spec, and prints the digests it
// computed: {"layers": [{"digest", "diff_id", "size"}], "manifests": [...]}.
// A layer: {"out": FILE, "gzip": bool, "entries": [{"name", "type" (file,
// dir, symlink, hardlink), "data" | "from" (a file), "link"}]}. A layout:
// {"layout": DIR, "images": [{"arch", "platform": bool, "layers": [layer],
// "swap_layers": bool, "diff_ids": {INDEX: DIGEST}}]}.
constexpr std::string_view maker_py = R"(
import gzip, hashlib, io, json, os, sys, tarfile
spec = json.load(open(sys.argv[1]))
def sha(b): return 'sha256:' + hashlib.sha256(b).hexdigest()
def layer(l):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        for e in l['entries']:
            ti = tarfile.TarInfo(e['name'])
            ti.mtime, ti.mode, data = 0, 0o644, None
            kind = e.get('type', 'file')
            if kind == 'file':
                data = open(e['from'], 'rb').read() if 'from' in e else e.get('data', '').encode()
                ti.size = len(data)
            elif kind == 'dir': ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == 'symlink': ti.type, ti.linkname = tarfile.SYMTYPE, e['link']
            elif kind == 'hardlink': ti.type, ti.linkname = tarfile.LNKTYPE, e['link']
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    tar = buf.getvalue()
    blob = gzip.compress(tar, mtime=0) if l.get('gzip') else tar
    return tar, blob
out = {'layers': [], 'manifests': []}
for l in spec.get('layers', []):
    tar, blob = layer(l)
    open(l['out'], 'wb').write(blob)
    out['layers'].append({'digest': sha(blob), 'diff_id': sha(tar), 'size': len(blob)})
if 'layout' in spec:
    root = spec['layout']
    os.makedirs(root + '/blobs/sha256', exist_ok=True)
    open(root + '/oci-layout', 'w').write('{"imageLayoutVersion":"1.0.0"}')
    def put(b):
        open(root + '/blobs/sha256/' + hashlib.sha256(b).hexdigest(), 'wb').write(b)
        return {'digest': sha(b), 'size': len(b)}
    entries = []
    for img in spec['images']:
        descs, diff_ids, made = [], [], []
        for l in img['layers']:
            tar, blob = layer(l)
            d = put(blob)
            d['mediaType'] = 'application/vnd.oci.image.layer.v1.tar' + ('+gzip' if l.get('gzip') else '')
            descs.append(d)
            diff_ids.append(sha(tar))
            made.append({'digest': d['digest'], 'diff_id': sha(tar)})
        for i, v in img.get('diff_ids', {}).items(): diff_ids[int(i)] = v
        if img.get('swap_layers'): descs[0], descs[1] = descs[1], descs[0]
        config = json.dumps({'architecture': img['arch'], 'os': 'linux',
                             'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}).encode()
        c = put(config)
        c['mediaType'] = 'application/vnd.oci.image.config.v1+json'
        manifest = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                               'config': c, 'layers': descs}).encode()
        m = put(manifest)
        m['mediaType'] = 'application/vnd.oci.image.manifest.v1+json'
        if img.get('platform', True): m['platform'] = {'architecture': img['arch'], 'os': 'linux'}
        entries.append(m)
        out['manifests'].append({'digest': m['digest'], 'layers': made})
    json.dump({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
               'manifests': entries}, open(root + '/index.json', 'w'))
print(json.dumps(out))
)";

json make(const t::fs::path& work, const json& spec) {
  t::write_file(work / "maker.py", maker_py);
  t::write_file(work / "spec.json", spec.dump());
  auto r = t::run("python3 " + q(work / "maker.py") + " " + q(work / "spec.json"));
  EXPECT_EQ(r.status, 0) << r.out;
  return json::parse(r.out);
}

json file_entry(const std::string& name, const std::string& data) {
  return {{"name", name}, {"data", data}};
}
json link_entry(const std::string& type, const std::string& name, const std::string& link) {
  return {{"name", name}, {"type", type}, {"link", link}};
}

std::string text_of(const image::file_data& d) {
  const auto b = d.bytes();
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// ---- lookup -------------------------------------------------------------------

class lookup_test : public ::testing::Test {
protected:
  void SetUp() override { UKIKIT_NEED_TOOL("python3"); }

  // The layers of `entries` (one list per layer), made by Python.
  image::layer_tree tree(const std::vector<json>& entries, bool gzip = false,
                         image::lookup_options opts = {}, std::vector<std::string> wanted = {}) {
    json spec{{"layers", json::array()}};
    for (std::size_t i = 0; i < entries.size(); ++i)
      spec["layers"].push_back({{"out", (work / ("l" + std::to_string(i))).string()},
                                {"gzip", gzip},
                                {"entries", entries[i]}});
    made = make(work, spec);
    blobs.clear();
    for (std::size_t i = 0; i < entries.size(); ++i)
      blobs.push_back(t::read_file(work / ("l" + std::to_string(i))));
    std::vector<byte_span> spans(blobs.begin(), blobs.end());
    auto built = image::layer_tree::build(spans, opts, wanted);
    EXPECT_TRUE(built.ok());
    return std::move(*built);
  }

  std::optional<std::string> read(const image::layer_tree& tr, std::string_view path) {
    auto r = tr.read(path);
    EXPECT_TRUE(r.ok()) << path << ": " << r.error().message();
    if (!r || !*r) return std::nullopt;
    return text_of(**r);
  }

  static bool has(const image::layer_pass& p, std::string_view code) {
    return std::any_of(p.findings.begin(), p.findings.end(),
                       [&](const finding& f) { return f.code == code; });
  }

  t::temp_dir dir;
  const t::fs::path& work = dir.path();
  json made;
  std::vector<std::vector<std::byte>> blobs;
};

TEST_F(lookup_test, later_layer_wins_and_diff_ids_are_pythons) {
  for (bool gz : {false, true}) {
    auto tr = tree({json::array({file_entry("etc/a", "one"), file_entry("etc/b", "base")}),
                    json::array({file_entry("etc/a", "two")})},
                   gz);
    EXPECT_EQ(read(tr, "etc/a"), "two");
    EXPECT_EQ(read(tr, "/etc/b"), "base");
    EXPECT_EQ(read(tr, "./etc//b"), "base");
    EXPECT_EQ(read(tr, "etc/c"), std::nullopt);
    auto a = tr.read("etc/a");
    ASSERT_TRUE(a.ok() && *a);
    EXPECT_EQ((*a)->data_layer, 1u);
    EXPECT_EQ((*a)->owned(), gz); // a view into a raw layer, decoded bytes of a gzip one
    ASSERT_EQ(tr.layers().size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
      ASSERT_TRUE(tr.layers()[i].diff_id);
      EXPECT_EQ("sha256:" + tr.layers()[i].diff_id->hex(), made["layers"][i]["diff_id"]);
      EXPECT_EQ(tr.layers()[i].compression, gz ? compress::format::gzip : compress::format::none);
    }
  }
}

TEST_F(lookup_test, whiteouts_hide_lower_layers_only) {
  auto tr = tree({json::array({file_entry("d/x", "x"), file_entry("d/y", "y"),
                               file_entry("d/sub/z", "z"), file_entry("top", "t")}),
                  json::array({file_entry("d/.wh.x", ""), file_entry("d/.wh.sub", ""),
                               file_entry(".wh.top", ""), file_entry("d/.wh.q", ""),
                               file_entry("d/q", "this layer's")})});
  EXPECT_EQ(read(tr, "d/x"), std::nullopt);
  EXPECT_EQ(read(tr, "d/sub/z"), std::nullopt);
  EXPECT_EQ(read(tr, "top"), std::nullopt);
  EXPECT_EQ(read(tr, "d/y"), "y");
  EXPECT_EQ(read(tr, "d/q"), "this layer's");   // a whiteout does not hide its own layer
  EXPECT_EQ(read(tr, "d/.wh.x"), std::nullopt); // never visible itself
}

TEST_F(lookup_test, opaque_directory_hides_lower_children_wherever_the_marker_stands) {
  auto tr = tree(
      {json::array({file_entry("d/x", "x"), file_entry("d/e/f", "f"), file_entry("other/k", "k")}),
       json::array({file_entry("d/new", "new"), file_entry("d/.wh..wh..opq", "")})});
  EXPECT_EQ(read(tr, "d/x"), std::nullopt);
  EXPECT_EQ(read(tr, "d/e/f"), std::nullopt);
  EXPECT_EQ(read(tr, "d/new"), "new");
  EXPECT_EQ(read(tr, "other/k"), "k");
}

TEST_F(lookup_test, hard_links_are_their_targets_data_when_read) {
  for (bool gz : {false, true}) {
    auto tr = tree({json::array({file_entry("f", "data")}),
                    json::array({link_entry("hardlink", "h", "f"), file_entry("g", "same layer"),
                                 link_entry("hardlink", "h2", "./g")}),
                    json::array({file_entry("f", "replaced")})},
                   gz);
    EXPECT_EQ(read(tr, "h"), "data");
    EXPECT_EQ(read(tr, "h2"), "same layer");
    EXPECT_EQ(read(tr, "f"), "replaced");
    auto h = tr.read("h");
    ASSERT_TRUE(h.ok() && *h);
    EXPECT_EQ((*h)->data_layer, 0u);
    EXPECT_EQ((*h)->info.layer, 1u);
  }
}

TEST_F(lookup_test, hard_link_to_nothing_is_refused) {
  auto tr = tree({json::array({link_entry("hardlink", "h", "missing"), file_entry("ok", "ok")})});
  EXPECT_EQ(read(tr, "h"), std::nullopt);
  EXPECT_TRUE(has(tr.layers()[0], extract::code::link_target_invalid));
}

TEST_F(lookup_test, symlinks_are_followed_inside_the_image_root) {
  auto tr =
      tree({json::array({file_entry("usr/install/amd64/vmlinuz.efi", "uki")}),
            json::array({link_entry("symlink", "boot", "/usr/install/amd64"),
                         link_entry("symlink", "rel", "usr/install"),
                         link_entry("symlink", "usr/escape", "../../../../usr/install"),
                         link_entry("symlink", "loop1", "loop2"),
                         link_entry("symlink", "loop2", "loop1"),
                         link_entry("symlink", "file-link", "usr/install/amd64/vmlinuz.efi")})});
  EXPECT_EQ(read(tr, "boot/vmlinuz.efi"), "uki");
  EXPECT_EQ(read(tr, "rel/amd64/vmlinuz.efi"), "uki");
  EXPECT_EQ(read(tr, "/usr/escape/amd64/vmlinuz.efi"), "uki"); // ".." stops at the root
  EXPECT_EQ(read(tr, "file-link"), "uki");
  EXPECT_EQ(read(tr, "usr/install/amd64/../amd64/vmlinuz.efi"), "uki");
  auto loop = tr.read("loop1");
  EXPECT_FALSE(loop.ok());
  auto st = tr.stat("boot");
  ASSERT_TRUE(st.ok() && *st);
  EXPECT_EQ((*st)->path, "usr/install/amd64");
  EXPECT_EQ((*st)->type, image::node_type::directory); // implied by what is under it
  auto dir_read = tr.read("boot");
  EXPECT_FALSE(dir_read.ok()); // a directory is no regular file
}

TEST_F(lookup_test, a_file_replacing_a_directory_takes_its_children_and_blocks_entries_below) {
  auto tr =
      tree({json::array({file_entry("a/x", "x"), file_entry("a-b", "sorts between")}),
            json::array({file_entry("a", "now a file"), link_entry("symlink", "s", "a"),
                         file_entry("s/y", "through a symlink"), file_entry("a/z", "below a file"),
                         file_entry("../evil", "dotdot")})});
  EXPECT_EQ(read(tr, "a"), "now a file");
  EXPECT_EQ(read(tr, "a/x"), std::nullopt);
  EXPECT_EQ(read(tr, "a-b"), "sorts between");
  EXPECT_EQ(read(tr, "a/z"), std::nullopt);
  EXPECT_EQ(read(tr, "evil"), std::nullopt);
  EXPECT_TRUE(has(tr.layers()[1], extract::code::through_symlink));
  EXPECT_TRUE(has(tr.layers()[1], extract::code::parent_not_directory));
  EXPECT_TRUE(has(tr.layers()[1], extract::code::dotdot));
}

TEST_F(lookup_test, a_directory_again_does_not_bring_back_what_a_file_replaced) {
  auto tr = tree({json::array({file_entry("a/x", "x"), file_entry("a-b", "sorts between")}),
                  json::array({file_entry("a", "a file")}),
                  json::array({json{{"name", "a"}, {"type", "dir"}}})});
  EXPECT_EQ(read(tr, "a/x"), std::nullopt);
  EXPECT_EQ(read(tr, "a-b"), "sorts between");
}

TEST_F(lookup_test, limits_are_errors_that_name_them) {
  image::lookup_options small;
  small.max_file_size = 10;
  auto tr =
      tree({json::array({file_entry("big", std::string(100, 'b')), file_entry("s", "small")})},
           true, small, {"big", "s"});
  auto big = tr.read("big");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), errc::limit_exceeded);
  EXPECT_NE(big.error().message().find("over the limit of 10"), std::string::npos);
  EXPECT_EQ(read(tr, "s"), "small");
  // An uncompressed layer hands out views: no copy, no limit.
  auto raw = tree({json::array({file_entry("big", std::string(100, 'b'))})}, false, small);
  EXPECT_EQ(read(raw, "big"), std::string(100, 'b'));
  // The decompressed layer is bounded too.
  image::lookup_options tiny;
  tiny.max_layer_size = 1000;
  auto bomb = tree({json::array({file_entry("z", std::string(100000, 'z'))})}, true, tiny);
  ASSERT_TRUE(bomb.layers()[0].problem);
  EXPECT_EQ(bomb.layers()[0].problem->code(), errc::limit_exceeded);
  EXPECT_FALSE(bomb.complete());
}

TEST_F(lookup_test, files_not_wanted_are_decoded_again_from_a_compressed_layer) {
  auto tr =
      tree({json::array({file_entry("a", "alpha"), file_entry("b", "beta")})}, true, {}, {"a"});
  EXPECT_EQ(read(tr, "b"), "beta");
  EXPECT_EQ(read(tr, "a"), "alpha");
}

TEST_F(lookup_test, a_truncated_layer_keeps_what_came_before_and_says_why) {
  auto full =
      tree({json::array({file_entry("a", "alpha"), file_entry("b", std::string(4000, 'x'))})});
  std::vector<std::byte> cut(blobs[0].begin(), blobs[0].begin() + 2048);
  std::vector<byte_span> spans{byte_span(cut)};
  auto tr = image::layer_tree::build(spans);
  ASSERT_TRUE(tr.ok());
  ASSERT_TRUE(tr->layers()[0].problem);
  EXPECT_FALSE(tr->complete());
  EXPECT_EQ(read(*tr, "a"), "alpha");
  EXPECT_EQ(read(*tr, "b"), std::nullopt);
}

// ---- the installer gate -----------------------------------------------------------

class installer_verify_test : public ::testing::Test {
protected:
  static inline std::optional<t::temp_dir> shared;
  static inline bool built = false, build_ok = false;

  void SetUp() override {
    UKIKIT_NEED_TOOL("python3");
    UKIKIT_NEED_TOOL("openssl");
    UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(kernel, "vmlinuz");
    UKIKIT_NEED_INPUT(boot, "systemd-bootx64.efi");
    UKIKIT_NEED_INPUT(arm_stub, "linuxaa64.efi.stub");
    UKIKIT_NEED_INPUT(arm_kernel, "vmlinuz-arm64");
    UKIKIT_NEED_INPUT(arm_boot, "root-arm64/usr/lib/systemd/boot/efi/systemd-bootaa64.efi");
    if (!built) {
      built = true;
      shared.emplace();
      build_ok = build_all(shared->path(), stub, kernel, boot, arm_stub, arm_kernel, arm_boot);
    }
    ASSERT_TRUE(build_ok) << "building the signed artifacts failed (see above)";
    a = shared->path();
  }

  static bool build_all(const t::fs::path& a, const t::fs::path& stub, const t::fs::path& kernel,
                        const t::fs::path& boot, const t::fs::path& arm_stub,
                        const t::fs::path& arm_kernel, const t::fs::path& arm_boot) {
    bool ok = true;
    auto step = [&](const std::string& cmd) {
      auto r = t::run(cmd + " 2>&1");
      EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out;
      ok = ok && r.status == 0;
    };
    for (const auto& c : image_fixture::key_commands(a)) step(c);
    t::fs::create_directories(a / "root/etc");
    t::write_file(a / "root/etc/hostname", std::string_view("talos\n"));
    step(t::tool("ukikit") + " initrd create " + q(a / "root") + " -o " + q(a / "initrd.img"));
    t::write_file(a / "os-release", std::string_view("ID=talos\nNAME=\"Talos\"\n"));
    auto uki = [&](const t::fs::path& s, const t::fs::path& k, const std::string& signer,
                   const std::string& out) {
      step(t::tool("ukikit") + " build --stub " + q(s) + " --linux " + q(k) + " --initrd " +
           q(a / "initrd.img") + " --os-release @" + q(a / "os-release") +
           " --cmdline 'talos.platform=metal' --pcr-private-key " + q(a / "pcr.key") +
           " --signing-key " + q(a / (signer + ".key")) + " --signing-cert " +
           q(a / (signer + ".crt")) + " -o " + q(a / out));
    };
    uki(stub, kernel, "db", "uki-amd64.efi");
    uki(stub, kernel, "other", "uki-amd64-other.efi");
    uki(arm_stub, arm_kernel, "db", "uki-arm64.efi");
    const std::string sign =
        t::tool("ukikit") + " sign --key " + q(a / "db.key") + " --cert " + q(a / "db.crt");
    // Debian's systemd-boot-efi binaries are unsigned (the signed ones are
    // another package).
    t::fs::copy_file(boot, a / "boot-amd64-unsigned.efi");
    step(sign + " --output " + q(a / "boot-amd64.efi") + " " + q(a / "boot-amd64-unsigned.efi"));
    t::fs::copy_file(arm_boot, a / "boot-arm64-unsigned.efi");
    step(sign + " --output " + q(a / "boot-arm64.efi") + " " + q(a / "boot-arm64-unsigned.efi"));
    return ok;
  }

  // An installer image for one architecture: the installer-base layer
  // (gzip) and an artifacts layer with `uki` and `boot` under usr/install/ARCH.
  json image_spec(const std::string& arch, const std::string& uki, const std::string& boot,
                  bool gzip = false, const std::string& suffix = "") const {
    const std::string dir = "usr/install/" + arch + "/";
    json base{{"gzip", true},
              {"entries", json::array({json{{"name", "usr"}, {"type", "dir"}},
                                       file_entry("usr/bin/installer", "installer " + arch),
                                       link_entry("symlink", "bin", "usr/bin")})}};
    json art{{"gzip", gzip},
             {"entries",
              json::array(
                  {json{{"name", dir + "systemd-boot.efi" + suffix}, {"from", (a / boot).string()}},
                   json{{"name", dir + "vmlinuz.efi" + suffix}, {"from", (a / uki).string()}}})}};
    return {{"arch", arch}, {"layers", json::array({base, art})}};
  }

  json both() const {
    return json::array({image_spec("amd64", "uki-amd64.efi", "boot-amd64.efi", true),
                        image_spec("arm64", "uki-arm64.efi", "boot-arm64.efi")});
  }

  t::fs::path layout(const json& images) {
    const auto l = work / ("L" + std::to_string(++layouts));
    made = make(work, json{{"layout", l.string()}, {"images", images}});
    return l;
  }

  installer::verify_report verify(const t::fs::path& l, const std::string& cert = "db.crt",
                                  const std::string& dbx = "", const std::string& pcrpkey = "",
                                  unsigned jobs = 0) {
    auto trust = report::load_databases({(a / cert).string()});
    EXPECT_TRUE(trust.ok());
    std::optional<authenticode::signature_database> forbidden;
    if (!dbx.empty()) forbidden = std::move(*report::load_databases({(a / dbx).string()}));
    std::vector<std::byte> key;
    if (!pcrpkey.empty()) key = t::read_file(a / pcrpkey);
    auto ref = image::parse_reference(l.string());
    EXPECT_TRUE(ref.ok());
    auto src = image::source::open(*ref);
    EXPECT_TRUE(src.ok()) << src.error().message();
    installer::verify_options o;
    o.trust = &*trust;
    o.dbx = forbidden ? &*forbidden : nullptr;
    o.pcrpkey = key;
    o.jobs = jobs;
    return installer::verify(*src, o);
  }

  static const finding* find(const installer::verify_report& r, std::string_view code) {
    for (const auto& f : r.findings)
      if (f.code == code) return &f;
    return nullptr;
  }
  static std::string all(const installer::verify_report& r) {
    std::string s;
    for (const auto& f : r.findings)
      s += std::string(f.code) + " " + f.subject + ": " + f.text() + "\n";
    return s;
  }

  t::fs::path a;
  t::temp_dir dir;
  const t::fs::path& work = dir.path();
  json made;
  int layouts = 0;
};

TEST_F(installer_verify_test, two_architectures_pass_with_pcr11_as_systemd_measure_computes) {
  const auto l = layout(both());
  auto r = verify(l);
  EXPECT_TRUE(r.passed()) << all(r);
  EXPECT_TRUE(r.findings.empty()) << all(r);
  ASSERT_EQ(r.architectures.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& arch = r.architectures[i];
    EXPECT_EQ(arch.architecture, i == 0 ? "amd64" : "arm64");
    ASSERT_TRUE(arch.found);
    EXPECT_EQ(*arch.found, installer::layout::uki);
    ASSERT_EQ(arch.artifacts.size(), 2u);
    EXPECT_EQ(arch.artifacts[0].path, "usr/install/" + arch.architecture + "/vmlinuz.efi");
    EXPECT_EQ(arch.artifacts[0].machine, installer::pe_machine(arch.architecture));
    EXPECT_EQ(arch.artifacts[1].machine, installer::pe_machine(arch.architecture));
    EXPECT_EQ(arch.artifacts[0].layer, 1u);
    EXPECT_EQ(arch.pcrsig_profiles, 1u); // the embedded .pcrpkey verified .pcrsig
    // The artifacts' sha256 is sha256sum's of the files put in.
    EXPECT_EQ("sha256:" + arch.artifacts[0].sha256,
              image_fixture::sha256_of(a / ("uki-" + arch.architecture + ".efi")));
    // diff_ids computed in the lookup pass are Python's.
    const auto& m = r.image.manifests[arch.manifest];
    ASSERT_EQ(m.layers.size(), 2u);
    for (std::size_t j = 0; j < 2; ++j) {
      ASSERT_TRUE(m.layers[j].diff_id);
      EXPECT_EQ(m.layers[j].diff_id->str(), made["manifests"][i]["layers"][j]["diff_id"]);
    }
  }
  // PCR 11 of the arm64 UKI: what systemd-measure computes from the
  // sections its 252 stub measures.
  const std::string measure = "/lib/systemd/systemd-measure";
  UKIKIT_NEED_TOOL(measure);
  UKIKIT_NEED_TOOL("aarch64-linux-gnu-objcopy");
  std::string args;
  for (const char* s : {"linux", "osrel", "cmdline", "initrd", "pcrpkey"}) {
    auto d = t::run("aarch64-linux-gnu-objcopy --dump-section ." + std::string(s) + "=" +
                    q(work / s) + " " + q(a / "uki-arm64.efi") + " " + q(work / "junk") + " 2>&1");
    ASSERT_EQ(d.status, 0) << d.out;
    args += " --" + std::string(s) + "=" + q(work / s);
  }
  auto theirs = t::run(measure + " calculate --json=short --bank=sha256" + args);
  ASSERT_EQ(theirs.status, 0) << theirs.out;
  const auto want = json::parse(theirs.out)["sha256"];
  const auto& got = r.architectures[1].pcr11;
  ASSERT_EQ(got.size(), want.size()) << theirs.out;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].phase, want[i].value("phase", ""));
    EXPECT_EQ(got[i].sha256, want[i]["hash"]);
  }
}

TEST_F(installer_verify_test, legacy_signed_layout_is_detected) {
  auto r = verify(layout(
      json::array({image_spec("amd64", "uki-amd64.efi", "boot-amd64.efi", false, ".signed")})));
  EXPECT_TRUE(r.passed()) << all(r);
  ASSERT_EQ(r.architectures.size(), 1u);
  ASSERT_TRUE(r.architectures[0].found);
  EXPECT_EQ(*r.architectures[0].found, installer::layout::legacy_signed);
  EXPECT_EQ(r.architectures[0].artifacts[0].path, "usr/install/amd64/vmlinuz.efi.signed");
}

TEST_F(installer_verify_test, corrupted_blob_is_a_digest_finding_at_its_place) {
  const auto l = layout(both());
  const std::string digest = made["manifests"][1]["layers"][1]["digest"];
  image_fixture::corrupt(image_fixture::blob_path(l, digest));
  auto r = verify(l);
  EXPECT_FALSE(r.passed());
  const finding* f = find(r, image::code::blob_mismatch);
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_EQ(f->subject, "manifests[1].layers[1].digest");
  EXPECT_NE(f->message.find(digest), std::string::npos) << f->message;
  EXPECT_TRUE(r.architectures[0].passed()) << all(r);
  EXPECT_FALSE(r.architectures[1].passed());
}

// Found by verify_fuzzer: a corrupted base layer both architectures share
// failed only the first; the second, its layers not read, had no tree, no
// artifacts checked, and passed.
TEST_F(installer_verify_test, corrupted_shared_base_layer_fails_every_architecture_using_it) {
  auto images = both();
  images[1]["layers"][0] = images[0]["layers"][0]; // the same bytes: one blob
  const auto l = layout(images);
  const std::string digest = made["manifests"][0]["layers"][0]["digest"];
  ASSERT_EQ(made["manifests"][1]["layers"][0]["digest"], digest);
  image_fixture::corrupt(image_fixture::blob_path(l, digest));
  auto r = verify(l);
  EXPECT_FALSE(r.passed());
  ASSERT_EQ(r.architectures.size(), 2u);
  std::vector<std::string> subjects;
  for (const auto& f : r.findings)
    if (f.code == image::code::blob_mismatch) subjects.push_back(f.subject);
  EXPECT_EQ(subjects, (std::vector<std::string>{"manifests[0].layers[0].digest",
                                                "manifests[1].layers[0].digest"}))
      << all(r);
  for (const auto& a : r.architectures) {
    EXPECT_FALSE(a.passed()) << a.platform() << "\n" << all(r);
    EXPECT_NE(installer::verify_text(r).find("FAIL " + a.platform()), std::string::npos);
  }
}

TEST_F(installer_verify_test, swapped_layers_and_a_wrong_diff_id_are_diff_id_findings) {
  auto images = both();
  images[0]["swap_layers"] = true;
  const std::string wrong = "sha256:" + std::string(64, '0');
  images[1]["diff_ids"] = {{"1", wrong}};
  auto r = verify(layout(images));
  EXPECT_FALSE(r.passed());
  std::vector<const finding*> mismatches;
  for (const auto& f : r.findings)
    if (f.code == report::code::image_diff_id_mismatch) mismatches.push_back(&f);
  ASSERT_EQ(mismatches.size(), 3u) << all(r);
  // amd64: each layer is the other's; claimed is the config's, computed Python's.
  EXPECT_EQ(mismatches[0]->subject, "manifests[0].layers[0].diff_id");
  EXPECT_EQ(mismatches[0]->claimed, made["manifests"][0]["layers"][0]["diff_id"]);
  EXPECT_EQ(mismatches[0]->computed, made["manifests"][0]["layers"][1]["diff_id"]);
  EXPECT_EQ(mismatches[2]->subject, "manifests[1].layers[1].diff_id");
  EXPECT_EQ(mismatches[2]->claimed, wrong);
  EXPECT_EQ(mismatches[2]->computed, made["manifests"][1]["layers"][1]["diff_id"]);
}

TEST_F(installer_verify_test, arm64_uki_under_amd64_is_a_machine_mismatch) {
  auto r = verify(layout(json::array({image_spec("amd64", "uki-arm64.efi", "boot-amd64.efi")})));
  EXPECT_FALSE(r.passed());
  const finding* f = find(r, installer::code::machine_mismatch);
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_EQ(f->subject, "manifests[0].layers[1]:usr/install/amd64/vmlinuz.efi");
  EXPECT_EQ(f->claimed, "0x8664 (x86_64)");   // PE/COFF: IMAGE_FILE_MACHINE_AMD64
  EXPECT_EQ(f->computed, "0xaa64 (aarch64)"); // IMAGE_FILE_MACHINE_ARM64
}

TEST_F(installer_verify_test, signature_failures_name_the_artifact) {
  struct want {
    std::string uki, boot, cert, dbx, file, why;
  };
  for (const auto& w : std::vector<want>{
           {"uki-amd64-other.efi", "boot-amd64.efi", "db.crt", "", "vmlinuz.efi", "CN=other"},
           {"uki-amd64.efi", "boot-amd64.efi", "db.crt", "db.crt", "vmlinuz.efi",
            "authenticode.dbx-certificate"},
           {"uki-amd64.efi", "boot-amd64-unsigned.efi", "db.crt", "", "systemd-boot.efi",
            "authenticode.not-signed"}}) {
    auto r = verify(layout(json::array({image_spec("amd64", w.uki, w.boot)})), w.cert, w.dbx);
    EXPECT_FALSE(r.passed()) << w.uki;
    const finding* f = find(r, installer::code::signature);
    ASSERT_NE(f, nullptr) << all(r);
    EXPECT_EQ(f->subject, "manifests[0].layers[1]:usr/install/amd64/" + w.file) << all(r);
    EXPECT_NE(f->message.find(w.why), std::string::npos) << f->message;
  }
}

TEST_F(installer_verify_test, pcrsig_against_another_key_fails) {
  auto r = verify(layout(json::array({image_spec("amd64", "uki-amd64.efi", "boot-amd64.efi")})),
                  "db.crt", "", "pcr-other.pub");
  EXPECT_FALSE(r.passed());
  const finding* f = find(r, installer::code::pcrsig);
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_EQ(f->subject, "manifests[0].layers[1]:usr/install/amd64/vmlinuz.efi");
  EXPECT_EQ(find(r, installer::code::signature), nullptr) << all(r);
  // With the right key it passes.
  EXPECT_TRUE(verify(layout(json::array({image_spec("amd64", "uki-amd64.efi", "boot-amd64.efi")})),
                     "db.crt", "", "pcr.pub")
                  .passed());
}

// A UKI whose own .pcrpkey is not the key that signed its .pcrsig: with no
// --pcrpkey the gate checks against the embedded key, and fails.
TEST_F(installer_verify_test, pcrsig_that_its_own_pcrpkey_does_not_verify_fails) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  auto b = t::run(t::tool("ukikit") + " build --stub " + q(stub) + " --linux " + q(kernel) +
                  " --initrd " + q(a / "initrd.img") + " --os-release @" + q(a / "os-release") +
                  " --cmdline 'talos.platform=metal' --pcr-private-key " + q(a / "pcr.key") +
                  " --pcrpkey " + q(a / "pcr-other.pub") + " --signing-key " + q(a / "db.key") +
                  " --signing-cert " + q(a / "db.crt") + " -o " + q(work / "uki.efi") + " 2>&1");
  ASSERT_EQ(b.status, 0) << b.out;
  t::fs::copy_file(work / "uki.efi", a / "uki-amd64-pcrpkey-other.efi",
                   t::fs::copy_options::overwrite_existing);
  auto r = verify(
      layout(json::array({image_spec("amd64", "uki-amd64-pcrpkey-other.efi", "boot-amd64.efi")})));
  EXPECT_FALSE(r.passed());
  const finding* f = find(r, installer::code::pcrsig);
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_EQ(f->subject, "manifests[0].layers[1]:usr/install/amd64/vmlinuz.efi");
  EXPECT_EQ(find(r, installer::code::signature), nullptr) << all(r); // Authenticode is fine
  // The key that signed it verifies it.
  EXPECT_TRUE(verify(layout(json::array(
                         {image_spec("amd64", "uki-amd64-pcrpkey-other.efi", "boot-amd64.efi")})),
                     "db.crt", "", "pcr.pub")
                  .passed());
}

// A UKI built unsigned and signed by sbsign (sbsigntool, not our signer)
// passes with the certificate it was signed with, and fails with another.
TEST_F(installer_verify_test, uki_signed_by_sbsign_passes_with_its_certificate_only) {
  UKIKIT_NEED_TOOL("sbsign");
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  auto b = t::run(t::tool("ukikit") + " build --stub " + q(stub) + " --linux " + q(kernel) +
                  " --initrd " + q(a / "initrd.img") + " --os-release @" + q(a / "os-release") +
                  " --cmdline 'talos.platform=metal' --pcr-private-key " + q(a / "pcr.key") +
                  " -o " + q(work / "unsigned.efi") + " && sbsign --key " + q(a / "db.key") +
                  " --cert " + q(a / "db.crt") + " --output " + q(work / "sbsigned.efi") + " " +
                  q(work / "unsigned.efi") + " 2>&1");
  ASSERT_EQ(b.status, 0) << b.out;
  t::fs::copy_file(work / "sbsigned.efi", a / "uki-amd64-sbsign.efi",
                   t::fs::copy_options::overwrite_existing);
  const auto l =
      layout(json::array({image_spec("amd64", "uki-amd64-sbsign.efi", "boot-amd64.efi")}));
  auto ok = verify(l);
  EXPECT_TRUE(ok.passed()) << all(ok);
  ASSERT_EQ(ok.architectures.size(), 1u);
  ASSERT_FALSE(ok.architectures[0].artifacts.empty());
  const auto& uki = ok.architectures[0].artifacts[0];
  ASSERT_TRUE(uki.verdict);
  ASSERT_EQ(uki.verdict->authenticode.signatures.size(), 1u);
  EXPECT_EQ(uki.verdict->authenticode.signatures[0].subject, "CN=db");
  EXPECT_EQ(ok.architectures[0].pcrsig_profiles, 1u);

  auto other = verify(l, "other.crt");
  EXPECT_FALSE(other.passed());
  bool uki_failed = false;
  for (const auto& f : other.findings)
    if (f.code == installer::code::signature &&
        f.subject == "manifests[0].layers[1]:usr/install/amd64/vmlinuz.efi")
      uki_failed = true;
  EXPECT_TRUE(uki_failed) << all(other);
}

TEST_F(installer_verify_test, missing_artifacts_layer_and_missing_platform) {
  auto images = json::array({image_spec("amd64", "uki-amd64.efi", "boot-amd64.efi"),
                             image_spec("arm64", "uki-arm64.efi", "boot-arm64.efi")});
  images[0]["layers"].erase(1);
  images[1]["platform"] = false;
  auto r = verify(layout(images));
  EXPECT_FALSE(r.passed());
  const finding* none = find(r, installer::code::no_artifacts);
  ASSERT_NE(none, nullptr) << all(r);
  EXPECT_EQ(none->subject, "manifests[0].layers");
  const finding* plat = find(r, installer::code::no_platform);
  ASSERT_NE(plat, nullptr) << all(r);
  EXPECT_EQ(plat->subject, "manifests[1].platform");
  EXPECT_TRUE(r.architectures[1].found); // found by the config's architecture
}

TEST_F(installer_verify_test, reports_are_the_same_for_any_number_of_jobs) {
  // Findings in both architectures, from the blobs, the layers and the
  // artifacts: their order must not depend on which thread finished first.
  auto swapped = json::array({image_spec("amd64", "uki-arm64.efi", "boot-arm64.efi"),
                              image_spec("arm64", "uki-amd64.efi", "boot-amd64.efi")});
  auto corrupt = both();
  corrupt[1]["layers"][0] = corrupt[0]["layers"][0];
  auto three = both();
  three.push_back(image_spec("riscv64", "uki-amd64.efi", "boot-amd64.efi"));
  const std::vector<json> cases{both(), swapped, corrupt, three};
  for (std::size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE("case " + std::to_string(k));
    const auto l = layout(cases[k]);
    if (k == 2) {
      const std::string digest = made["manifests"][0]["layers"][0]["digest"];
      image_fixture::corrupt(image_fixture::blob_path(l, digest));
    }
    const auto one = verify(l, "db.crt", "", "", 1);
    EXPECT_EQ(one.passed(), k == 0) << all(one);
    EXPECT_EQ(one.architectures.size(), k == 3 ? 3u : 2u);
    const std::string json1 = installer::to_json(one).dump(1);
    for (unsigned jobs : {2u, 3u, 0u}) {
      SCOPED_TRACE("jobs " + std::to_string(jobs));
      const auto many = verify(l, "db.crt", "", "", jobs);
      EXPECT_EQ(installer::to_json(many).dump(1), json1);
      EXPECT_EQ(installer::verify_text(many), installer::verify_text(one));
    }
    // `image inspect`'s report, every layer listed, likewise.
    auto src = image::source::open(*image::parse_reference(l.string()));
    ASSERT_TRUE(src.ok());
    report::image_options io;
    io.jobs = 1;
    const auto serial = report::inspect_image(*src, io);
    io.jobs = 3;
    const auto parallel = report::inspect_image(*src, io);
    EXPECT_EQ(report::to_json(parallel).dump(1), report::to_json(serial).dump(1));
    EXPECT_EQ(report::image_text(parallel), report::image_text(serial));
    EXPECT_EQ(serial.passed(), k != 2);
  }
}

// A manifest with no tree to check (no platform, no config) still has its
// layer blobs' digests checked: they are not decoded, but they are read.
TEST_F(installer_verify_test, layers_of_a_manifest_without_a_tree_are_still_checked) {
  auto images = both();
  images[1]["platform"] = false;
  const auto l = layout(images);
  const std::string manifest = made["manifests"][1]["digest"];
  const auto m = json::parse(t::read_file(image_fixture::blob_path(l, manifest)));
  t::fs::remove(image_fixture::blob_path(l, m["config"]["digest"]));
  const std::string digest = made["manifests"][1]["layers"][1]["digest"];
  image_fixture::corrupt(image_fixture::blob_path(l, digest));
  auto r = verify(l);
  EXPECT_FALSE(r.passed());
  ASSERT_NE(find(r, installer::code::no_platform), nullptr) << all(r);
  const finding* f = find(r, image::code::blob_mismatch);
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_EQ(f->subject, "manifests[1].layers[1].digest");
  EXPECT_TRUE(r.architectures[0].passed()) << all(r);
}

// ---- the commands -------------------------------------------------------------------

TEST_F(installer_verify_test, image_verify_prints_a_line_per_architecture_and_exits_by_contract) {
  const auto l = layout(both());
  const std::string cmd = t::tool("ukikit") + " image verify --cert " + q(a / "db.crt");
  auto ok = t::run(cmd + " " + q(l) + " 2>&1");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("PASS linux/amd64 uki: vmlinuz.efi x86_64 signed by CN=db"),
            std::string::npos)
      << ok.out;
  EXPECT_NE(ok.out.find("PASS linux/arm64 uki: vmlinuz.efi aarch64"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("\nPASS " + l.string() + "\n"), std::string::npos) << ok.out;

  auto j = t::run(cmd + " --json " + q(l));
  EXPECT_EQ(j.status, 0);
  const auto doc = json::parse(j.out);
  EXPECT_EQ(doc["passed"], true);
  EXPECT_EQ(doc["architectures"][1]["layout"], "uki");
  EXPECT_EQ(doc["architectures"][1]["artifacts"][0]["verify"]["passed"], true);

  auto other = t::run(t::tool("ukikit") + " image verify --cert " + q(a / "other.crt") + " " +
                      q(l) + " 2>/dev/null");
  EXPECT_EQ(other.status, 1) << other.out;
  EXPECT_NE(other.out.find("FAIL linux/amd64 uki: manifests[0]"), std::string::npos) << other.out;
  EXPECT_NE(other.out.find("FAIL " + l.string() + ": "), std::string::npos) << other.out;

  auto missing = t::run(cmd + " " + q(work / "nothing") + " 2>&1");
  EXPECT_EQ(missing.status, 2) << missing.out;
}

TEST_F(installer_verify_test, image_extract_writes_the_file_of_the_final_tree) {
  const auto l = layout(both());
  const std::string cmd = t::tool("ukikit") + " image extract " + q(l);
  for (const char* arch : {"amd64", "arm64"}) {
    const auto out = work / (std::string(arch) + ".efi");
    auto r = t::run(cmd + " --arch " + arch + " /usr/install/" + arch + "/vmlinuz.efi -o " +
                    q(out) + " 2>&1");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(image_fixture::sha256_of(out),
              image_fixture::sha256_of(a / ("uki-" + std::string(arch) + ".efi")));
  }
  auto via_link = t::run(cmd + " --arch amd64 /bin/installer -o - 2>&1");
  EXPECT_EQ(via_link.status, 0);
  EXPECT_EQ(via_link.out, "installer amd64");
  auto absent =
      t::run(cmd + " --arch amd64 /usr/install/amd64/nothing -o " + q(work / "x") + " 2>&1");
  EXPECT_EQ(absent.status, 2) << absent.out;
  EXPECT_FALSE(t::fs::exists(work / "x"));
  auto no_arch = t::run(cmd + " --arch riscv64 /bin/installer -o " + q(work / "x") + " 2>&1");
  EXPECT_EQ(no_arch.status, 2) << no_arch.out;
}

} // namespace
} // namespace ukikit
