/* Unit tests for src/manifest: manifest parsing
 * (every error names file:line:column) and the plan (expansion, dedup, every check). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "airfactory/manifest.h"
#include "core/memory.h"
#include "test.h"

/* ---- manifests ---- */

static char *scratch_dir;

static void write_file(const char *rel, const char *text)
{
    char *path = path_join(scratch_dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    struct error err = {0};
    fs_mkdir_p(path, 0755, &err);
    *slash = '/';
    CHECK_INT(fs_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
    free(path);
}

static const char sources_v1113[] =
    "  - {role: imager, path: fx/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}\n"
    "  - {role: installer-base, path: fx/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}\n"
    "  - {role: extensions, path: fx/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}\n"
    "  - {role: overlays, path: fx/overlays-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/overlays:v1.11.3, trust: open}\n"
    "  - {role: extension, path: fx/intel-ucode.oci.tar, reference: ghcr.io/siderolabs/intel-ucode:20250812}\n"
    "  - {role: imager, path: fx/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:v1.9.5}\n"
    "  - {role: installer, path: fx/installer-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/installer:v1.9.5}\n";

static const char tail_common[] = "trust:\n"
                                  "  default:\n"
                                  "    keys: [keys/cosign.pub]\n"
                                  "  open:\n"
                                  "    insecure: true\n"
                                  "  sigstore:\n"
                                  "    keyless:\n"
                                  "      issuer: https://accounts.google.com\n"
                                  "      identity: '@siderolabs\\.com$'\n"
                                  "      trusted_root: keys/trusted_root.json\n"
                                  "signing_key: out/bundle.key\n"
                                  "output: out/bundle\n";

static void make_fixture_files(void)
{
    const char *files[] = {"fx/imager-v1.11.3.oci.tar",
                           "fx/installer-base-v1.11.3.oci.tar",
                           "fx/extensions-v1.11.3.oci.tar",
                           "fx/overlays-v1.11.3.oci.tar",
                           "fx/intel-ucode.oci.tar",
                           "fx/imager-v1.9.5.oci.tar",
                           "fx/installer-v1.9.5.oci.tar",
                           "keys/cosign.pub",
                           "keys/trusted_root.json",
                           "out/bundle.key",
                           "k" /* plan checks the signing key is a readable file */};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_file(files[i], "x");
    write_file("schematics/ext.yaml",
               "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/intel-ucode]\n");
}

/* Build a manifest from a head (schematics and lists), the standard sources and the tail. */
static char *manifest_text(const char *head)
{
    return xasprintf("%ssources:\n%s%s", head, sources_v1113, tail_common);
}

static struct manifest *load(const char *head, struct error *err)
{
    char *text = manifest_text(head);
    write_file("m.yaml", text);
    free(text);
    char *path = path_join(scratch_dir, "m.yaml");
    struct manifest *m = NULL;
    int rc = manifest_load(path, &m, err);
    free(path);
    return rc == 0 ? m : NULL;
}

/* The error of loading + planning `head`, or NULL on success. */
static char *plan_error(const char *head, size_t *models)
{
    struct error err = {0};
    struct manifest *m = load(head, &err);
    if (!m)
        return xstrdup(err.message);
    struct plan *plan = NULL;
    char *result = NULL;
    if (manifest_plan(m, &plan, &err) < 0)
        result = xstrdup(err.message);
    else if (models)
        *models = plan->model_count;
    if (err.message[0] && err.code != ERROR_INPUT)
        printf("  error code %d: %s\n", err.code, err.message);
    plan_free(plan);
    manifest_free(m);
    return result;
}

#define CHECK_PLAN_ERROR(head, fragment)                                                                               \
    do {                                                                                                               \
        char *e_ = plan_error(head, NULL);                                                                             \
        if (!e_ || !strstr(e_, fragment)) {                                                                            \
            printf("  error '%s' lacks '%s'\n", e_ ? e_ : "(none)", fragment);                                         \
            CHECK(e_ &&strstr(e_, fragment));                                                                          \
        }                                                                                                              \
        free(e_);                                                                                                      \
    } while (0)

#define CHECK_PLAN_COUNT(head, expected)                                                                               \
    do {                                                                                                               \
        size_t n_ = 0;                                                                                                 \
        char *e_ = plan_error(head, &n_);                                                                              \
        if (e_)                                                                                                        \
            printf("  unexpected error: %s\n", e_);                                                                    \
        CHECK(e_ == NULL);                                                                                             \
        CHECK_INT(n_, expected);                                                                                       \
        free(e_);                                                                                                      \
    } while (0)

static void plan_expands_and_dedups(void)
{
    struct error err = {0};
    struct manifest *m =
        load("schematics:\n"
             "  - name: vanilla\n"
             "    schematic: {}\n"
             "  - name: ext\n"
             "    file: schematics/ext.yaml\n"
             "    versions: [v1.11.3]\n"
             "versions: [v1.11.3, v1.9.5]\n"
             "architectures: [amd64, arm64]\n"
             "outputs: [kernel, kernel-amd64, metal-amd64.iso, metal.iso, cmdline-metal, installer.tar]\n",
             &err);
    CHECK(m != NULL);
    if (!m) {
        printf("  %s\n", err.message);
        return;
    }
    CHECK_INT(m->schematic_count, 2);
    CHECK_STR(m->schematics[0].id, SCHEMATIC_VANILLA_ID);
    CHECK_STR(m->schematics[0].canonical, "customization: {}\n");
    CHECK(m->schematics[1].file && strstr(m->schematics[1].file, "/schematics/ext.yaml"));
    CHECK(m->output[0] == '/' && strstr(m->output, "/out/bundle"));
    struct plan *plan = NULL;
    CHECK_INT(manifest_plan(m, &plan, &err), 0);
    if (!plan) {
        printf("  %s\n", err.message);
        manifest_free(m);
        return;
    }
    /* per schematic and version: kernel x2, iso x2, cmdline x2, installer x2; ext only for v1.11.3 */
    CHECK_INT(plan->model_count, 2 * 8 + 8);
    CHECK_STR(plan->models[0].path, "kernel-amd64");
    CHECK_STR(plan->models[1].path, "kernel-arm64");
    CHECK_STR(plan->models[2].path, "metal-amd64.iso");
    CHECK_STR(plan->models[3].path, "metal-arm64.iso");
    CHECK_STR(plan->models[4].path, "cmdline-metal-amd64");
    CHECK_STR(plan->models[7].path, "installer-arm64.tar");
    CHECK_STR(plan->models[8].version, "v1.9.5");
    CHECK_STR(plan->models[16].schematic->name, "ext");
    CHECK_INT(plan->models[2].asset.kind, ASSET_ISO);
    CHECK_INT(plan->version_count, 2);
    CHECK_STR(plan->versions[0], "v1.9.5"); /* semver order */
    CHECK_STR(plan->versions[1], "v1.11.3");
    /* sources: absolute paths, roles, versions from the tags, policies filled in */
    CHECK_INT(plan->source_count, 7);
    const struct plan_source *imager = plan_find_source(plan, SOURCE_ROLE_IMAGER, "v1.9.5");
    CHECK(imager && strstr(imager->source->path, "/fx/imager-v1.9.5.oci.tar") && imager->source->path[0] == '/');
    CHECK_STR(imager->source->version, "v1.9.5");
    CHECK_STR(imager->policy.name, "default");
    CHECK_INT(imager->policy.public_key_count, 1);
    CHECK(imager->policy.public_keys[0][0] == '/' && strstr(imager->policy.public_keys[0], "/keys/cosign.pub"));
    CHECK(!imager->policy.insecure);
    const struct plan_source *overlays = plan_find_source(plan, SOURCE_ROLE_OVERLAYS, "v1.11.3");
    CHECK(overlays && overlays->policy.insecure);
    const struct plan_source *ext = plan_find_source(plan, SOURCE_ROLE_EXTENSION, "");
    CHECK(ext && !strcmp(ext->source->version, ""));
    CHECK(plan_find_source(plan, SOURCE_ROLE_INSTALLER_BASE, "v1.9.5") == NULL);
    plan_free(plan);
    manifest_free(m);
}

static void shorthands_and_all_platform(void)
{
    /* all-metal: installer, kernel, initramfs, cmdline, iso, uki, raw.zst = 7 per arch */
    CHECK_PLAN_COUNT("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64, arm64]\n"
                     "outputs: [all-metal]\n",
                     14);
    /* all-aws: installer + aws-A.raw.xz per arch */
    CHECK_PLAN_COUNT("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64, arm64]\n"
                     "outputs: [all-aws]\n",
                     4);
    /* digital-ocean is amd64 only: the arm64 expansion is skipped */
    CHECK_PLAN_COUNT("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64, arm64]\n"
                     "outputs: [digital-ocean.raw.gz, aws.raw.xz, nocloud-secureboot.iso]\nsecureboot: {signing_key: "
                     "keys/cosign.pub, signing_cert: keys/cosign.pub, pcr_key: keys/cosign.pub}\n",
                     5);
    CHECK_PLAN_ERROR("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [arm64]\n"
                     "outputs: [hcloud.raw.xz]\n",
                     "m.yaml:4:11: output 'hcloud.raw.xz' builds nothing");
    /* per-schematic overrides */
    CHECK_PLAN_COUNT("schematics:\n  - {name: a, schematic: {}, outputs: [kernel], architectures: [arm64]}\n"
                     "  - {name: b, schematic: {customization: {extraKernelArgs: [x]}}}\n"
                     "versions: [v1.11.3]\narchitectures: [amd64, arm64]\noutputs: [cmdline-metal]\n",
                     1 + 2);
}

static void plan_rejects_bad_combinations(void)
{
    const char *base = "schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n";
    char *head;
#define WITH_OUTPUTS(list) (head = xasprintf("%soutputs: %s\n", base, list))
    CHECK_PLAN_ERROR(WITH_OUTPUTS("[metl.iso]"),
                     "m.yaml:4:11: output 'metl.iso': unknown platform 'metl'; expected one of metal, aws");
    free(head);
    CHECK_PLAN_ERROR(WITH_OUTPUTS("[kernel, metal.ssd]"), "m.yaml:4:19: unknown output 'metal.ssd'");
    free(head);
    CHECK_PLAN_ERROR(WITH_OUTPUTS("[bogus]"), "unknown output 'bogus'");
    free(head);
    CHECK_PLAN_ERROR(WITH_OUTPUTS("[kernel-foo]"), "unknown output 'kernel-foo' (invalid architecture: \"foo\")");
    free(head);
    CHECK_PLAN_ERROR(WITH_OUTPUTS("[metal-secureboot.iso]"), "SecureBoot assets need a 'secureboot:' section");
    free(head);
    CHECK_PLAN_ERROR(WITH_OUTPUTS("[all-nope]"), "output 'all-nope': unknown platform 'nope'");
    free(head);
#undef WITH_OUTPUTS
    CHECK_PLAN_ERROR("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64, riscv64]\n"
                     "outputs: [kernel]\n",
                     "m.yaml:3:24: unknown architecture 'riscv64'; expected amd64 or arm64");
    CHECK_PLAN_ERROR(
        "schematics: [{name: v, schematic: {}}]\nversions: [1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n",
        "m.yaml:2:12: '1.11.3' is not a Talos version; expected vX.Y.Z");
    CHECK_PLAN_ERROR(
        "schematics: [{name: v, schematic: {}}]\nversions: [v1.10.0]\narchitectures: [amd64]\noutputs: [kernel]\n",
        "m.yaml:2:12: missing imager source for v1.10.0; add a source with role: imager");
    CHECK_PLAN_ERROR("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                     "outputs: [akamai.raw.gz]\nx: 1\n",
                     "m.yaml:5:1: manifest: unknown field 'x'");
    CHECK_PLAN_ERROR("schematics:\n  - {name: a, schematic: {}}\n  - {name: b, schematic: {customization: {}}}\n"
                     "versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n",
                     "m.yaml:3:5: schematics[1]: duplicate schematic: 'b' has the same ID 376567988ad3... as 'a'");
    CHECK_PLAN_ERROR(
        "schematics:\n  - {name: a, schematic: {}}\n  - {name: a, schematic: {customization: {bootloader: grub}}}\n"
        "versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n",
        "duplicate schematic name 'a'");
    CHECK_PLAN_ERROR("schematics:\n  - {name: a, schematic: {customization: {bootloader: auto}}}\nversions: [v1.11.3]\n"
                     "architectures: [amd64]\noutputs: [kernel]\n",
                     "m.yaml:2:55: customization.bootloader: 'auto' is not a bootloader value");
    CHECK_PLAN_ERROR(
        "schematics:\n  - {name: a, file: nope.yaml}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n",
        "m.yaml:2:21: schematic 'a': file");
    write_file("schematics/bad.yaml", "customization:\n  extraKernelArgs: 1\n");
    CHECK_PLAN_ERROR("schematics:\n  - {name: a, file: schematics/bad.yaml}\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                     "outputs: [kernel]\n",
                     "m.yaml:2:21: schematic 'a': ");
    CHECK_PLAN_ERROR("schematics:\n  - {name: a, file: schematics/bad.yaml}\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                     "outputs: [kernel]\n",
                     "bad.yaml:2:20: customization.extraKernelArgs: expected a sequence");
    CHECK_PLAN_ERROR(
        "schematics:\n  - {name: 'a b', schematic: {}}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n",
        "m.yaml:2:12: schematics[0].name: 'a b' is not a valid name");
    CHECK_PLAN_ERROR(
        "schematics:\n  - {name: a, schematic: {}, file: x}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n",
        "give exactly one of 'schematic:'");
    CHECK_PLAN_ERROR("schematics:\n  - {name: a, schematic: {}}\narchitectures: [amd64]\noutputs: [kernel]\n",
                     "m.yaml:2:5: schematic 'a': no versions");
    CHECK_PLAN_ERROR("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3, v1.11.3]\narchitectures: [amd64]\n"
                     "outputs: [kernel]\n",
                     "m.yaml:2:21: versions: 'v1.11.3' is listed twice");
    /* extensions need a catalog for the version; kernel and cmdline do not */
    CHECK_PLAN_ERROR(
        "schematics: [{name: e, file: schematics/ext.yaml}]\nversions: [v1.9.5]\narchitectures: [amd64]\n"
        "outputs: [kernel, cmdline-metal, initramfs.xz]\n",
        "m.yaml:4:34: schematic 'e' lists system extensions but no 'extensions' catalog source is listed for v1.9.5");
    CHECK_PLAN_COUNT("schematics: [{name: e, file: schematics/ext.yaml}]\nversions: [v1.9.5]\narchitectures: [amd64]\n"
                     "outputs: [kernel, cmdline-metal]\n",
                     2);
    /* installers need installer-base (1.10+) or installer (<1.10) */
    CHECK_PLAN_COUNT("schematics: [{name: v, schematic: {}}]\nversions: [v1.9.5]\narchitectures: [amd64]\n"
                     "outputs: [installer.tar]\n",
                     1);
    /* overlays: catalog needed, and Talos 1.7+ */
    CHECK_PLAN_COUNT("schematics: [{name: o, schematic: {overlay: {name: rpi_generic, image: siderolabs/sbc-raspberrypi}}}]\n"
                     "versions: [v1.11.3]\narchitectures: [arm64]\noutputs: [metal.raw.xz]\n",
                     1);
    CHECK_PLAN_ERROR("schematics: [{name: o, schematic: {overlay: {name: rpi_generic, image: siderolabs/sbc-raspberrypi}}}]\n"
                     "versions: [v1.9.5]\narchitectures: [arm64]\noutputs: [metal.raw.xz]\n",
                     "no 'overlays' catalog source is listed for v1.9.5");
    /* embedded machine configuration needs 1.12 except for kernel and cmdline */
    CHECK_PLAN_ERROR("schematics: [{name: c, schematic: {customization: {embeddedMachineConfiguration: 'x: y'}}}]\n"
                     "versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [cmdline-metal, metal.iso]\n",
                     "m.yaml:4:26: schematic 'c' embeds a machine configuration, which Talos v1.11.3 cannot");
    /* platforms that appeared later */
    CHECK_PLAN_ERROR("schematics: [{name: v, schematic: {}}]\nversions: [v1.9.5]\narchitectures: [amd64]\n"
                     "outputs: [alibabacloud.qcow2]\n",
                     "platform alibabacloud needs Talos v1.14.0 or later, not v1.9.5");
}

static void sources_and_trust_are_checked(void)
{
    struct error err = {0};
    char *text =
        xasprintf("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                  "outputs: [kernel]\nsources:\n"
                  "  - {role: imager, path: fx/missing.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}\n%s",
                  tail_common);
    write_file("m.yaml", text);
    free(text);
    char *path = path_join(scratch_dir, "m.yaml");
    struct manifest *m = NULL;
    CHECK_INT(manifest_load(path, &m, &err), 0);
    struct plan *plan = NULL;
    CHECK_INT(manifest_plan(m, &plan, &err), -1);
    CHECK(strstr(err.message, "m.yaml:6:5: missing source file ") && strstr(err.message, "/fx/missing.oci.tar"));
    CHECK_INT(err.code, ERROR_INPUT);
    manifest_free(m);

    static const struct {
        const char *sources, *trust, *fragment;
    } cases[] = {
        {"  - {role: imager, path: a, reference: r:v1.11.3, trust: nope}\n", "trust: {default: {insecure: true}}\n",
         "m.yaml:6:5: sources[0]: unknown trust policy 'nope'"},
        {"  - {role: imager, path: a, reference: r:v1.11.3}\n", "trust: {other: {insecure: true}}\n",
         "unknown trust policy 'default'; define it under 'trust:' (a source without 'trust:' uses 'default')"},
        {"  - {role: imagr, path: a, reference: r:v1.11.3}\n", "trust: {default: {insecure: true}}\n",
         "m.yaml:6:12: role: 'imagr' is not a source role"},
        {"  - {role: imager, path: a, reference: r:latest}\n", "trust: {default: {insecure: true}}\n",
         "m.yaml:6:5: sources[0]: a imager source needs a Talos version"},
        {"  - {role: imager, path: a, reference: r:v1.11.3, version: v1.11.2}\n",
         "trust: {default: {insecure: true}}\n", "version: v1.11.2 does not match the reference tag v1.11.3"},
        {"  - {role: imager, path: a}\n", "trust: {default: {insecure: true}}\n", "sources[0]: missing 'reference'"},
        {"  - {role: imager, path: a, reference: r:v1.11.3, extra: 1}\n", "trust: {default: {insecure: true}}\n",
         "m.yaml:6:51: sources[0]: unknown field 'extra'"},
        {"", "trust: {default: {}}\n", "m.yaml:6:18: trust.default: the policy accepts nothing"},
        {"", "trust: {default: {insecure: true, keys: [k]}}\n", "insecure: true cannot be combined with keys"},
        {"", "trust: {default: {keyless: {issuer: x}}}\n", "trust.default.keyless: give all of issuer, identity"},
        {"", "trust: {default: {keyless: {issuer: x, identity: '(', trusted_root: r}}}\n",
         "trust.default.keyless.identity: not a POSIX extended regular expression"},
        {"", "trust: {default: {insecure: maybe}}\n", "insecure: expected true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text = xasprintf("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                         "outputs: [kernel]\nsources:\n%s%ssigning_key: k\noutput: o\n",
                         cases[i].sources[0] ? cases[i].sources : "  []\n", cases[i].trust);
        if (!cases[i].sources[0]) {
            free(text);
            text = xasprintf("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                             "outputs: [kernel]\nsources: []\n%ssigning_key: k\noutput: o\n",
                             cases[i].trust);
        }
        struct manifest *mm = NULL;
        struct error e = {0};
        int rc = manifest_parse(text, strlen(text), "m.yaml", scratch_dir, &mm, &e);
        if (rc == 0) {
            struct plan *p = NULL;
            rc = manifest_plan(mm, &p, &e);
            plan_free(p);
        }
        CHECK_INT(rc, -1);
        if (!strstr(e.message, cases[i].fragment)) {
            printf("  case %zu: '%s' lacks '%s'\n", i, e.message, cases[i].fragment);
            CHECK(strstr(e.message, cases[i].fragment) != NULL);
        }
        manifest_free(mm);
        free(text);
    }
    /* trust key files must exist at plan time */
    text = xasprintf("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                     "outputs: [kernel]\nsources: [{role: imager, path: fx/imager-v1.11.3.oci.tar, reference: r:v1.11.3}]\n"
                     "trust: {default: {keys: [keys/nope.pub]}}\nsigning_key: k\noutput: o\n");
    struct manifest *mm = NULL;
    struct plan *p = NULL;
    CHECK_INT(manifest_parse(text, strlen(text), "m.yaml", scratch_dir, &mm, &err), 0);
    CHECK_INT(manifest_plan(mm, &p, &err), -1);
    CHECK(strstr(err.message, "m.yaml:6:9: trust.default: public key file") && strstr(err.message, "keys/nope.pub"));
    manifest_free(mm);
    free(text);
    /* and so must the bundle's signing key, as a regular file (a directory is refused) */
    text = xasprintf("schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
                     "outputs: [kernel]\nsources: [{role: imager, path: fx/imager-v1.11.3.oci.tar, reference: r:v1.11.3}]\n"
                     "trust: {default: {keys: [keys/cosign.pub]}}\nsigning_key: keys\noutput: o\n");
    mm = NULL;
    p = NULL;
    CHECK_INT(manifest_parse(text, strlen(text), "m.yaml", scratch_dir, &mm, &err), 0);
    CHECK_INT(manifest_plan(mm, &p, &err), -1);
    CHECK(strstr(err.message, "signing_key") && strstr(err.message, "/keys: is a directory, not a regular file"));
    manifest_free(mm);
    free(text);
    free(path);
}

static void keyless_policy_is_filled(void)
{
    char *text = xasprintf(
        "schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [amd64]\n"
        "outputs: [kernel]\nsources: [{role: imager, path: fx/imager-v1.11.3.oci.tar, "
        "reference: 'ghcr.io/siderolabs/imager:v1.11.3@sha256:0000000000000000000000000000000000000000000000000000000000000000', "
        "trust: sigstore}]\n%s",
        tail_common);
    struct manifest *m = NULL;
    struct plan *plan = NULL;
    struct error err = {0};
    CHECK_INT(manifest_parse(text, strlen(text), "m.yaml", scratch_dir, &m, &err), 0);
    if (m) {
        CHECK_INT(manifest_plan(m, &plan, &err), 0);
        CHECK_STR(m->sources[0].version, "v1.11.3");
    }
    if (plan) {
        const struct verify_policy *p = &plan->sources[0].policy;
        CHECK_STR(p->name, "sigstore");
        CHECK_STR(p->keyless_issuer, "https://accounts.google.com");
        CHECK_STR(p->keyless_identity_regexp, "@siderolabs\\.com$");
        CHECK(p->trusted_root_path && p->trusted_root_path[0] == '/' &&
              strstr(p->trusted_root_path, "keys/trusted_root.json"));
        CHECK_INT(p->public_key_count, 0);
    } else {
        printf("  %s\n", err.message);
    }
    plan_free(plan);
    manifest_free(m);
    free(text);
}

static void relative_paths_resolve_against_the_manifest(void)
{
    const char *text = "schematics: [{name: v, schematic: {}}]\nsources: []\ntrust: {default: {insecure: true}}\n"
                       "signing_key: ../keys/./b.key\noutput: /abs/../bundle/\n";
    struct manifest *m = NULL;
    struct error err = {0};
    CHECK_INT(manifest_parse(text, strlen(text), "m.yaml", "/srv/site/conf", &m, &err), 0);
    if (m) {
        CHECK_STR(m->signing_key, "/srv/site/keys/b.key");
        CHECK_STR(m->output, "/bundle");
    }
    manifest_free(m);
    /* not a mapping, empty, syntax errors */
    CHECK_INT(manifest_parse("[]", 2, "x.yaml", "/", &m, &err), -1);
    CHECK(strstr(err.message, "x.yaml:1:1: manifest: expected a mapping"));
    CHECK_INT(manifest_parse("", 0, "x.yaml", "/", &m, &err), -1);
    CHECK(strstr(err.message, "x.yaml:1:1: the document is empty"));
    CHECK_INT(manifest_parse("schematics: [\n", 14, "x.yaml", "/", &m, &err), -1);
    CHECK(strstr(err.message, "x.yaml:2:1:"));
    CHECK_INT(manifest_load("/nonexistent/m.yaml", &m, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
}

/* images: and talos-images: become role-image sources, references normalised, paths defaulted. */
static void cluster_images_are_sources(void)
{
    const char *head =
        "schematics: [{name: v, schematic: {}}]\ntrust: {default: {insecure: true}, lab: {insecure: true}}\n"
        "signing_key: k\noutput: o\n";
    char *text = xasprintf("%simages:\n  - {reference: 'busybox:1.36', platforms: [linux/arm64/v8]}\n"
                           "  - {reference: registry.k8s.io/pause:3.10, path: x/p.tar, trust: lab}\n"
                           "talos-images: {talos: v1.11.3, kubernetes: 1.34.1}\n",
                           head);
    struct manifest *m = NULL;
    struct error err = {0};
    CHECK_INT(manifest_parse(text, strlen(text), "m.yaml", "/site", &m, &err), 0);
    free(text);
    if (!m) {
        printf("  %s\n", err.message);
        return;
    }
    /* busybox, pause, then the nine talosctl images not already listed (pause is) */
    CHECK_INT(m->source_count, 11);
    CHECK_STR(m->sources[0].reference, "docker.io/library/busybox:1.36");
    CHECK_STR(m->sources[0].path, "/site/images/docker.io_library_busybox_1.36.oci.tar");
    CHECK_STR(source_role_name(m->sources[0].role), "image");
    CHECK_INT(m->sources[0].platforms.count, 1);
    CHECK_STR(m->sources[1].path, "/site/x/p.tar");
    CHECK_STR(m->sources[1].trust, "lab");
    static const char *const talosctl[] = {"ghcr.io/siderolabs/flannel:v0.27.4",
                                           "registry.k8s.io/coredns/coredns:v1.12.4",
                                           "gcr.io/etcd-development/etcd:v3.6.5",
                                           "registry.k8s.io/kube-apiserver:v1.34.1",
                                           "registry.k8s.io/kube-controller-manager:v1.34.1",
                                           "registry.k8s.io/kube-scheduler:v1.34.1",
                                           "registry.k8s.io/kube-proxy:v1.34.1",
                                           "ghcr.io/siderolabs/kubelet:v1.34.1",
                                           "ghcr.io/siderolabs/installer:v1.11.3"};
    for (size_t i = 0; i < 9 && m->source_count == 11; i++) {
        CHECK_STR(m->sources[2 + i].reference, talosctl[i]);
        CHECK_STR(m->sources[2 + i].trust, "default");
    }
    manifest_free(m);
    /* errors: position, what, how to fix */
    static const struct {
        const char *body, *fragment;
    } cases[] = {
        {"images: [{reference: 'Bad Name'}]\n", "m.yaml:5:10: image 'Bad Name':"},
        {"images: [{reference: 'busybox'}]\n", "busybox"},
        {"images: [{reference: a.io/x:1, platforms: [amd64]}]\n", "platforms: 'amd64' is not os/arch"},
        {"images: [{reference: a.io/x:1, trust: nope}]\n", "unknown trust policy 'nope'"},
        {"images: [{reference: a.io/x:1}, {reference: a.io/x:1}]\n", "image a.io/x:1 is listed twice"},
        {"images: [{path: x}]\n", "missing 'reference'"},
        {"images: [{reference: a.io/x:1, tag: y}]\n", "unknown field 'tag'"},
        {"talos-images: {talos: v1.0.0, kubernetes: v1.34.1}\n", "no image list for Talos 'v1.0.0'"},
        {"talos-images: {talos: v1.11.3}\n", "give both 'talos' and 'kubernetes'"},
        {"talos-images: {talos: v1.11.3, kubernetes: latest}\n", "Kubernetes version 'latest'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text = xasprintf("%s%s", head, cases[i].body);
        m = NULL;
        CHECK_INT(manifest_parse(text, strlen(text), "m.yaml", "/site", &m, &err), -1);
        if (!strstr(err.message, cases[i].fragment)) {
            printf("  case %zu: '%s' lacks '%s'\n", i, err.message, cases[i].fragment);
            CHECK(strstr(err.message, cases[i].fragment) != NULL);
        }
        manifest_free(m);
        free(text);
    }
}

int main(void)
{
    char tmpl[] = "/tmp/airfactory-test-manifest.XXXXXX";
    scratch_dir = mkdtemp(tmpl);
    if (!scratch_dir) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    make_fixture_files();
    RUN(plan_expands_and_dedups);
    RUN(shorthands_and_all_platform);
    RUN(plan_rejects_bad_combinations);
    RUN(sources_and_trust_are_checked);
    RUN(keyless_policy_is_filled);
    RUN(relative_paths_resolve_against_the_manifest);
    RUN(cluster_images_are_sources);
    struct error err = {0};
    fs_remove_tree(scratch_dir, &err);
    return TEST_MAIN_END();
}
