/* serve_verify — the start-up gate: a bundle is served only if index.db's signature checks out.
 *
 * index.db pins every blob by digest and size, so verifying its signature (index.db.sig, base64
 * DER ECDSA/RSA/Ed25519 signature over SHA-256 of index.db, checkable with
 * `openssl dgst -sha256 -verify KEY.pub -signature …`) vouches for the whole bundle without
 * reading the blobs: start-up time does not grow with bundle size. */
#ifndef AIRFACTORY_SERVE_VERIFY_H
#define AIRFACTORY_SERVE_VERIFY_H

#include "airfactory/error.h"

int serve_verify_bundle(const char *bundle_dir, const char *public_key_pem_path, struct error *err);

#endif
