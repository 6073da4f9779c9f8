/* authenticode — Authenticode signatures of PE32+ images, what UEFI SecureBoot checks before it
 * runs an EFI binary (systemd-boot, a UKI).
 *
 * Owns the PE image hash of the Microsoft Authenticode specification ("Windows Authenticode
 * Portable Executable Signature Format", "Calculating the PE Image Hash"): the headers up to
 * SizeOfHeaders without the CheckSum field and the certificate-table data directory entry, then
 * every section's raw data in PointerToRawData order, then the data after the last section up to
 * the certificate table. The file is padded with zeros to a multiple of 8 bytes first (the
 * certificate table must be 8-byte aligned; sbsign hashes the same padding), and an existing
 * signature at the end of the file is replaced, not nested.
 *
 * The signature is a PKCS#7 SignedData (OpenSSL's PKCS7 API) whose content is an
 * SpcIndirectDataContent (SpcPeImageData + DigestInfo of the image hash, SHA-256), signed
 * attributes contentType, SpcSpOpusInfo (empty), signingTime and messageDigest, with the signer
 * certificate — the shape sbsign and go-uefi's authenticode produce. It is appended as a
 * WIN_CERTIFICATE (revision 0x0200, type PKCS_SIGNED_DATA), 8-byte aligned, and data directory 4
 * points at it. RSA PKCS#1 v1.5 signatures are deterministic; signingTime is the caller's
 * (SOURCE_DATE_EPOCH), so the same input and key give the same bytes. Large images are streamed. */
#ifndef AIRFACTORY_AUTHENTICODE_H
#define AIRFACTORY_AUTHENTICODE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "airfactory/error.h"

#define AUTHENTICODE_DIGEST_MAX 64

/* The Authenticode image hash of a PE32+ file with md (EVP_sha256() for UEFI). *len = digest size.
 * An existing signature is excluded, so a signed file hashes like its unsigned original. */
int authenticode_digest(const char *path, const EVP_MD *md, unsigned char out[AUTHENTICODE_DIGEST_MAX], unsigned *len,
                        struct error *err);

/* Sign in_path into out_path (atomically; the two may be the same path). signing_time: seconds
 * since the epoch for the signingTime attribute. */
int authenticode_sign(const char *in_path, const char *out_path, EVP_PKEY *key, X509 *cert, uint32_t signing_time,
                      struct error *err);

#endif
