/* version — Talos versions: the one parser and the comparisons.
 *
 * Owns: the version type every module uses (manifest versions, the profile data's since/before,
 * the imager's version switches, extension constraints, airfactory-serve's URL versions). The
 * grammar is semver 2.0 as blang/semver reads it (what Image Factory parses URL versions and
 * Talos extension constraints with): MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] with an optional
 * leading 'v', no leading zeros in numbers or numeric pre-release identifiers, no empty
 * identifiers. Numbers are bounded (100000) so arithmetic on them cannot overflow. */
#ifndef AIRFACTORY_TALOS_VERSION_H
#define AIRFACTORY_TALOS_VERSION_H

#include <stdbool.h>

struct talos_version {
    unsigned major, minor, patch;
    char prerelease[64]; /* "" for a release, e.g. "beta.1" */
};

/* 0, or -1 when text is not a version. */
int talos_version_parse(const char *text, struct talos_version *out);
/* Compare major.minor.patch only (what Talos' quirks do): <0, 0, >0. */
int talos_version_compare(const struct talos_version *a, const struct talos_version *b);
/* Full semver precedence (a pre-release sorts before its release), for sorting and ranges. */
int talos_version_compare_semver(const struct talos_version *a, const struct talos_version *b);
/* True when text is a version whose major.minor is at least major.minor (false when unparsable). */
bool talos_version_at_least(const char *text, unsigned major, unsigned minor);

#endif
