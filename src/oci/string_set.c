/* string_set — see string_set.h. */
#include "oci/string_set.h"
#include "core/memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t find_slot(char **slots, size_t capacity, const char *s)
{
    size_t i = (size_t)hash(s) & (capacity - 1);
    while (slots[i] && strcmp(slots[i], s) != 0)
        i = (i + 1) & (capacity - 1);
    return i;
}

static void grow(struct string_set *set)
{
    size_t capacity = set->capacity ? set->capacity * 2 : 64;
    char **slots = xcalloc(capacity, sizeof *slots);
    for (size_t i = 0; i < set->capacity; i++)
        if (set->slots[i])
            slots[find_slot(slots, capacity, set->slots[i])] = set->slots[i];
    free(set->slots);
    set->slots = slots;
    set->capacity = capacity;
}

bool string_set_add(struct string_set *set, const char *s)
{
    if ((set->count + 1) * 2 > set->capacity)
        grow(set);
    size_t i = find_slot(set->slots, set->capacity, s);
    if (set->slots[i])
        return false;
    set->slots[i] = xstrdup(s);
    set->count++;
    return true;
}

bool string_set_contains(const struct string_set *set, const char *s)
{
    if (!set->capacity)
        return false;
    return set->slots[find_slot(set->slots, set->capacity, s)] != NULL;
}

void string_set_clear(struct string_set *set)
{
    for (size_t i = 0; i < set->capacity; i++)
        free(set->slots[i]);
    free(set->slots);
    set->slots = NULL;
    set->capacity = set->count = 0;
}
