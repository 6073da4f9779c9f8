/* verify_policy — the one decoder of trust policies: a manifest's `trust:` entries and the file
 * of `airfactory import --policy` are both read here, from the core YAML tree
 * (core/yaml_document: strict, byte/alias limits), so they accept exactly the same text.
 *
 * A policy is a mapping with (docs/manifest.md, "Trust policies"):
 *   keys: [PEM files]                                   any one key may sign
 *   keyless: {issuer, identity, trusted_root}           all three; identity a POSIX ERE
 *   insecure: true|false                                accept unsigned images
 * and, in a policy file only, `name:` (the manifest names a policy by its key). A policy gives
 * keys, keyless, or insecure: true; insecure cannot be combined with the others (the manifest's
 * documented rule; the import reader used to allow it and to take `keys: FILE` as a one-item list,
 * which no document described). Every error reads "<file>:<line>:<column>: <where>.<field>: …". */
#ifndef AIRFACTORY_VERIFY_POLICY_H
#define AIRFACTORY_VERIFY_POLICY_H

#include <stdbool.h>

#include "airfactory/error.h"
#include "airfactory/verify.h"
#include "core/yaml_document.h"

/* Largest policy file verify_policy_load_file reads. */
#define VERIFY_POLICY_MAX_FILE_BYTES (1u << 20)

struct verify_policy_context {
    const char *what;     /* the file named in errors */
    const char *base_dir; /* absolute: relative key and trusted_root paths resolve against it */
    const char *where;    /* field prefix in errors, e.g. "trust.lab" */
    bool allow_name;      /* a `name:` field is allowed (a policy file) */
    bool check_files;     /* open every key and trusted root now (a policy file; the manifest's plan
                             checks its files itself, with the entry's position) */
};

/* Decode one policy mapping into *out: zeroed first, freed and zeroed again on error. out->name
 * is set only by a `name:` field; the caller owns the result (verify_policy_free). */
int verify_policy_decode(const struct yaml_node *node, const struct verify_policy_context *ctx,
                         struct verify_policy *out, struct error *err);

/* Read a policy file (YAML or JSON, at most VERIFY_POLICY_MAX_FILE_BYTES): paths inside are
 * relative to the file's directory, and the files must exist; without `name:` the policy is named
 * after the file. */
int verify_policy_load_file(const char *path, struct verify_policy *out, struct error *err);

/* A deep copy (dst is overwritten, not freed). */
void verify_policy_copy(struct verify_policy *dst, const struct verify_policy *src);

#endif
