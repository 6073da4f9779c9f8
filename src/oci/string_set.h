/* string_set — a set of strings (open addressing, FNV-1a), for the places that must notice a
 * repeat among many names: duplicate tar entries in an OCI archive, paths a layer has written
 * (whiteouts apply only to lower layers). Linear scans there would be quadratic in hostile input. */
#ifndef AIRFACTORY_STRING_SET_H
#define AIRFACTORY_STRING_SET_H

#include <stdbool.h>
#include <stddef.h>

struct string_set {
    char **slots;
    size_t capacity; /* power of two, or 0 */
    size_t count;
};

#define STRING_SET_INIT                                                                                                \
    {                                                                                                                  \
        NULL, 0, 0                                                                                                     \
    }

/* Adds a copy of s; returns false if it was already there. */
bool string_set_add(struct string_set *set, const char *s);
bool string_set_contains(const struct string_set *set, const char *s);
void string_set_clear(struct string_set *set);

#endif
