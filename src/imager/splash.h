/* splash — the UKI's .splash bitmap, found inside the imager image.
 *
 * Owns: finding Talos' boot splash (pkg/splash/sidero.bmp, which the imager's Go binary carries
 * raw through go:embed; airfactory ships no artwork of its own) in an imager image. The bitmap to
 * look for is version data (the ukiSplashSHA256 / ukiSplashSize quirks): the binary
 * (/usr/bin/imager, a link to installer since 1.10; /bin/imager, a hard link, before) is extracted
 * once and scanned with a bounded window for a "BM" header whose file size field is the expected
 * size; such a candidate is taken only if its bytes hash to the expected SHA-256. The result is
 * kept beside the imager's other boot files, keyed by the digest, so a later build reads it
 * without scanning again. */
#ifndef AIRFACTORY_IMAGER_SPLASH_H
#define AIRFACTORY_IMAGER_SPLASH_H

#include <stdint.h>
#include <stdio.h>

#include "airfactory/error.h"
#include "oci/oci_image.h"
#include "oci/store.h"

/* Scan an open file for the bitmap (the first "BM" header of that size whose bytes match the
 * digest). 1 found with *offset set, 0 not found, -1 error (a read failure). Reads at most 1 MiB
 * at a time. what names the file in errors. */
int splash_scan(int fd, const char *what, const char *sha256_hex, uint64_t size, uint64_t *offset, struct error *err);

/* The splash of imager image `image` in directory dir (created if missing): 1 with *path set to
 * "<dir>/splash-<sha256>.bmp", 0 when the image has no such bitmap with *reason set (what was
 * looked for and where; kept in "<dir>/splash-<sha256>.absent"), -1 error. Both strings are the
 * caller's to free. */
int splash_from_imager(struct store *store, const struct oci_image *image, const char *dir, const char *sha256_hex,
                       uint64_t size, char **path, char **reason, struct error *err);

#endif
