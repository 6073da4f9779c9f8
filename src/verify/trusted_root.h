/* trusted_root — a Sigstore trusted_root.json (protobuf-specs dev.sigstore.trustroot.v1.TrustedRoot
 * in its JSON form) read offline: Fulcio certificate authorities, Rekor transparency logs, CT logs
 * and timestamp authorities, each with its validity window.
 *
 * This is the only trust input of keyless verification: there is no TUF client and no network, so
 * whoever writes the policy supplies the file (Sigstore's public-good root, or a private
 * Fulcio/Rekor deployment's root, e.g. one made with `cosign trusted-root create`).
 *
 * Strict where sigstore-go is: a transparency or CT log key without validFor.start is refused.
 * Tolerant of what the protobuf JSON mapping allows: "end": null, URL-safe or unpadded base64, and
 * log keys as PKCS#1 RSA (keyDetails PKCS1_RSA_PKCS1V5) as well as SubjectPublicKeyInfo.
 *
 * Accepted media types: application/vnd.dev.sigstore.trustedroot+json;version=0.1 and
 * application/vnd.dev.sigstore.trustedroot.v0.1+json (and a missing mediaType). Bytes fields are
 * standard base64; timestamps RFC 3339 in UTC. */
#ifndef AIRFACTORY_TRUSTED_ROOT_H
#define AIRFACTORY_TRUSTED_ROOT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <openssl/x509.h>

#include "airfactory/error.h"
#include "verify/public_key.h"

#define TRUSTED_ROOT_MAX_SIZE (4 * 1024 * 1024)
#define TRUSTED_ROOT_TIME_MIN INT64_MIN
#define TRUSTED_ROOT_TIME_MAX INT64_MAX

/* A transparency log (Rekor) or a CT log. */
struct trusted_root_log {
    char *base_url;
    char *host; /* host of base_url ("" when none): the key name a Rekor v2 log signs
                                 its checkpoints with (sigstore-go pkg/verify/tlog.go) */
    struct public_key *key;
    unsigned char key_id[64]; /* logId.keyId as stored; Rekor's log ID is sha256(DER SPKI) */
    size_t key_id_len;
    int64_t valid_from, valid_until; /* Unix seconds, inclusive; MIN/MAX when open */
};

/* A Fulcio CA or a timestamp authority: its chain, leaf-most first and root last. */
struct trusted_root_authority {
    char *uri;
    STACK_OF(X509) * chain;
    int64_t valid_from, valid_until;
};

struct trusted_root {
    char *what; /* path, for messages */
    struct trusted_root_authority *certificate_authorities;
    size_t certificate_authority_count;
    struct trusted_root_log *tlogs;
    size_t tlog_count;
    struct trusted_root_log *ctlogs;
    size_t ctlog_count;
    struct trusted_root_authority *timestamp_authorities;
    size_t timestamp_authority_count;
};

int trusted_root_load(const char *path, struct trusted_root **out, struct error *err);
int trusted_root_parse(const char *json, size_t len, const char *what, struct trusted_root **out, struct error *err);
void trusted_root_free(struct trusted_root *root);

/* The transparency log whose ID (sha256 of its DER SPKI, or its stored keyId) is log_id. */
const struct trusted_root_log *trusted_root_find_tlog(const struct trusted_root *root, const unsigned char *log_id,
                                                      size_t log_id_len);

/* RFC 3339 "2021-10-07T13:56:59Z" / "…59.123Z" / "…+02:00" to Unix seconds. round_up: a fraction
 * counts as the next second (for window starts, so a window never opens early). */
int trusted_root_parse_time(const char *text, int round_up, int64_t *out);
/* Unix seconds as "2026-07-05T10:15:00Z" (for messages). */
void trusted_root_format_time(int64_t t, char out[32]);

#endif
