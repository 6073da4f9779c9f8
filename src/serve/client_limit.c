/* client_limit — per-client connection counts (see serve_client_limit.h).
 *
 * Linear probing with backward-shift deletion (no tombstones, so a client that comes and goes
 * leaves nothing behind), load factor at most 1/2, and a hash keyed with a random seed per table:
 * addresses are chosen by the peer, so an unkeyed hash would let one build colliding chains. */
#include "serve/serve_client_limit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/memory.h"

struct slot {
    struct serve_client_key key;
    int count; /* 0: empty */
};

struct serve_client_table {
    struct slot *slots;
    size_t cap; /* power of two */
    size_t used;
    uint64_t seed[2];
};

struct serve_client_table *serve_client_table_new(void)
{
    struct serve_client_table *t = xcalloc(1, sizeof *t);
    t->cap = 64;
    t->slots = xcalloc(t->cap, sizeof *t->slots);
    if (getrandom(t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)t;
        t->seed[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full;
    }
    return t;
}

void serve_client_table_free(struct serve_client_table *table)
{
    if (!table)
        return;
    free(table->slots);
    free(table);
}

void serve_client_key_of(const struct sockaddr_storage *peer, struct serve_client_key *key)
{
    memset(key, 0, sizeof *key);
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        key->addr[10] = key->addr[11] = 0xff; /* as ::ffff:a.b.c.d */
        memcpy(key->addr + 12, &in->sin_addr, 4);
    } else if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            memcpy(key->addr, &in6->sin6_addr, 16); /* same bytes as the AF_INET case */
        else
            memcpy(key->addr, &in6->sin6_addr, 8); /* the /64 */
    }
}

static uint64_t mix(uint64_t x)
{
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t hash_of(const struct serve_client_table *t, const struct serve_client_key *key)
{
    uint64_t a, b;
    memcpy(&a, key->addr, 8);
    memcpy(&b, key->addr + 8, 8);
    return (size_t)mix(mix(a ^ t->seed[0]) ^ b ^ t->seed[1]);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const struct serve_client_table *t, const struct serve_client_key *key)
{
    size_t mask = t->cap - 1, i = hash_of(t, key) & mask;
    while (t->slots[i].count && memcmp(&t->slots[i].key, key, sizeof *key))
        i = (i + 1) & mask;
    return i;
}

static void grow(struct serve_client_table *t)
{
    struct slot *old = t->slots;
    size_t old_cap = t->cap;
    t->cap *= 2;
    t->slots = xcalloc(t->cap, sizeof *t->slots);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].count)
            t->slots[find(t, &old[i].key)] = old[i];
    free(old);
}

bool serve_client_acquire(struct serve_client_table *table, const struct serve_client_key *key, int limit)
{
    size_t i = find(table, key);
    struct slot *s = &table->slots[i];
    if (s->count) {
        if (limit > 0 && s->count >= limit)
            return false;
        s->count++;
        return true;
    }
    s->key = *key;
    s->count = 1;
    if (++table->used * 2 > table->cap)
        grow(table);
    return true;
}

void serve_client_release(struct serve_client_table *table, const struct serve_client_key *key)
{
    size_t mask = table->cap - 1, i = find(table, key);
    if (!table->slots[i].count || --table->slots[i].count > 0)
        return;
    /* backward-shift deletion: move later members of the probe run into the hole */
    table->used--;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; table->slots[j].count; j = (j + 1) & mask) {
        size_t home = hash_of(table, &table->slots[j].key) & mask;
        /* j may move to hole when its home is not in (hole, j] (cyclically) */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        table->slots[hole] = table->slots[j];
        hole = j;
    }
    table->slots[hole].count = 0;
}

int serve_client_count(const struct serve_client_table *table, const struct serve_client_key *key)
{
    return table->slots[find(table, key)].count;
}
