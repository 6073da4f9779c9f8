/* secureboot — the SecureBoot signer of a build and what Talos derives from it
 * (talos-imager.md §5.3, §5.4, §6.5).
 *
 * Owns:
 *  - loading and checking the signing material: the UKI/sd-boot signing key (PEM RSA, PKCS#1 as
 *    Talos' uki-signing-key.pem, or PKCS#8), its X.509 certificate (PEM), and the PCR signing key
 *    (PEM RSA; the signing key when none is given). A key that is not RSA 2048..4096, a certificate
 *    that does not belong to the key, an unreadable or encrypted file are input errors naming the
 *    file and how to fix it;
 *  - generating a self-signed signer for sites without a PKI (`airfactory keygen --secureboot`);
 *  - the UKI's PCR 11 signature (.pcrsig) and public key (.pcrpkey): PCR 11 as systemd-stub
 *    measures the UKI sections (fixed order .linux .osrel .cmdline .initrd .ucode .splash .dtb
 *    .uname .sbat .pcrpkey .profile .dtbauto .hwids), extended by the phases enter-initrd,
 *    leave-initrd, enter-machined, for the SHA-256/384/512 banks; the TPM2 PolicyPCR digest of
 *    that value, signed RSA PKCS#1 v1.5 by the PCR key; the JSON systemd-stub/systemd-cryptenroll
 *    read. This is a prediction: no TPM is involved;
 *  - the SecureBoot enrollment databases PK.auth, KEK.auth, db.auth that systemd-boot enrolls
 *    from loader/keys/auto/: one EFI_SIGNATURE_LIST holding the signing certificate (DER,
 *    EFI_CERT_X509_GUID, owner GUID = uuid.NewHash(SHA-256, NameSpaceX500, certificate PEM, 4) as
 *    Talos), signed as a time-based authenticated variable (EFI_VARIABLE_AUTHENTICATION_2: EFI_TIME
 *    from SOURCE_DATE_EPOCH + WIN_CERTIFICATE_UEFI_GUID with a PKCS#7 SignedData, no attributes,
 *    over name ‖ vendor GUID ‖ attributes ‖ time ‖ list) by the same key — what
 *    sign-efi-sig-list and go-uefi produce. */
#ifndef AIRFACTORY_SECUREBOOT_H
#define AIRFACTORY_SECUREBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

struct secureboot_signer {
    EVP_PKEY *key;     /* signs sd-boot, UKIs and the enrollment databases */
    X509 *cert;        /* its certificate, put in db */
    EVP_PKEY *pcr_key; /* signs the PCR policy; == key when no PCR key was given (not freed twice) */
    char *cert_pem;    /* served at /secureboot/signing-cert.pem */
    unsigned char *cert_der;
    size_t cert_der_len;
};

/* pcr_key_path NULL: the signing key signs the PCR policy too. */
int secureboot_signer_load(const char *key_path, const char *cert_path, const char *pcr_key_path,
                           struct secureboot_signer **out, struct error *err);
void secureboot_signer_free(struct secureboot_signer *signer);

/* Write PREFIX.key (PKCS#1 RSA, mode 0600) and PREFIX.crt (self-signed X.509, CN common_name,
 * valid from not_before for 20 years, code-signing usage). Existing files are kept unless force. */
int secureboot_keygen(const char *prefix, const char *common_name, int bits, uint32_t not_before, bool force,
                      struct error *err);

/* ---- PCR 11 ---- */

/* One UKI section as systemd-stub measures it: its bytes from a file or from memory. */
struct secureboot_section {
    const char *name; /* ".linux", ... */
    const char *path; /* content from this file, or else ... */
    const void *data; /* ... from memory */
    size_t size;
};

/* PCR 11 after measuring the sections (any order given; measured in systemd's order, names not in
 * that list are ignored) and then the phases (NULL-terminated, e.g. "enter-initrd"). out holds
 * EVP_MD_get_size(md) bytes. */
int secureboot_pcr11(const struct secureboot_section *sections, size_t count, const char *const *phases,
                     const EVP_MD *md, unsigned char *out, struct error *err);

/* The .pcrsig JSON for one set of measured sections (one UKI profile, or the whole UKI before
 * 1.10), phases enter-initrd, leave-initrd, enter-machined; banks sha256, sha384, sha512. */
int secureboot_pcr_signature(const struct secureboot_signer *signer, const struct secureboot_section *sections,
                             size_t count, struct buffer *json, struct error *err);

/* The .pcrpkey text: PEM SubjectPublicKeyInfo of the PCR key. */
void secureboot_pcr_public_key(const struct secureboot_signer *signer, struct buffer *pem);

/* ---- enrollment ---- */

/* PK.auth, KEK.auth or db.auth (name "PK", "KEK", "db") with the signing certificate, signed at
 * `timestamp` (seconds since the epoch). */
int secureboot_enrollment_auth(const struct secureboot_signer *signer, const char *name, uint32_t timestamp,
                               struct buffer *out, struct error *err);

/* Write PK.auth, KEK.auth, db.auth into dir. */
int secureboot_write_enrollment(const struct secureboot_signer *signer, const char *dir, uint32_t timestamp,
                                struct error *err);

/* A certificate to enroll besides the signing one (includeWellKnownCertificates: Microsoft's KEK
 * and db certificates, which airfactory does not ship: the manifest names the files). */
struct secureboot_cert {
    unsigned char *der;
    size_t der_len;
};
/* Read a DER or PEM X.509 certificate; ERROR_INPUT naming the file when it is not one. */
int secureboot_cert_load(const char *path, struct secureboot_cert *out, struct error *err);
void secureboot_cert_free(struct secureboot_cert *c);
/* As secureboot_enrollment_auth, with `extra` certificates after the signing one, owned by
 * Microsoft's GUID (talos internal/pkg/secureboot/database: go-uefi puts certificates of one size
 * into one EFI_SIGNATURE_LIST, in order). */
int secureboot_enrollment_auth_with(const struct secureboot_signer *signer, const char *name,
                                    const struct secureboot_cert *extra, size_t extra_count, uint32_t timestamp,
                                    struct buffer *out, struct error *err);
/* PK.auth, KEK.auth (+ kek_extra), db.auth (+ db_extra) into dir. */
int secureboot_write_enrollment_with(const struct secureboot_signer *signer, const struct secureboot_cert *kek_extra,
                                     size_t kek_count, const struct secureboot_cert *db_extra, size_t db_count,
                                     const char *dir, uint32_t timestamp, struct error *err);

#endif
