/* Unit tests for src/serve/client_limit.c: per-client connection counts (--max-conns-per-client). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_client_limit.h"
#include "test.h"

static struct sockaddr_storage v4(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, text, &in->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, text, &in6->sin6_addr);
    return ss;
}

static struct serve_client_key key_of(struct sockaddr_storage ss)
{
    struct serve_client_key k;
    serve_client_key_of(&ss, &k);
    return k;
}

static void limit_per_address(void)
{
    struct serve_client_table *t = serve_client_table_new();
    struct serve_client_key a = key_of(v4("127.0.0.1", 1000)), b = key_of(v4("127.0.0.2", 1000));
    for (int i = 0; i < 3; i++)
        CHECK(serve_client_acquire(t, &a, 3));
    CHECK(!serve_client_acquire(t, &a, 3)); /* the fourth from 127.0.0.1 */
    CHECK(serve_client_acquire(t, &b, 3));  /* another address is not affected */
    CHECK_INT(serve_client_count(t, &a), 3);
    serve_client_release(t, &a);
    CHECK(serve_client_acquire(t, &a, 3)); /* a slot came free */
    CHECK(!serve_client_acquire(t, &a, 3));
    CHECK(serve_client_acquire(t, &a, 0)); /* 0: no limit */
    CHECK_INT(serve_client_count(t, &a), 4);
    serve_client_table_free(t);
}

static void keys_group_ipv6_by_64_and_map_ipv4(void)
{
    struct serve_client_key a = key_of(v6("2001:db8:1:2::1", 1)), b = key_of(v6("2001:db8:1:2:ffff::9", 2));
    struct serve_client_key c = key_of(v6("2001:db8:1:3::1", 1));
    CHECK(!memcmp(&a, &b, sizeof a)); /* one /64 is one client */
    CHECK(memcmp(&a, &c, sizeof a) != 0);
    struct serve_client_key m = key_of(v6("::ffff:192.0.2.7", 5)), p = key_of(v4("192.0.2.7", 6));
    CHECK(!memcmp(&m, &p, sizeof m)); /* a dual-stack listener sees IPv4 clients as mapped */
    struct serve_client_key q = key_of(v4("192.0.2.8", 6));
    CHECK(memcmp(&p, &q, sizeof p) != 0);
}

/* Random acquire/release against a plain array model: the hash table (linear probing with
 * backward-shift deletion, growth) must agree with it at every step and end empty. */
static void table_matches_a_model(void)
{
    enum { CLIENTS = 3000, STEPS = 200000, LIMIT = 5 };
    struct serve_client_table *t = serve_client_table_new();
    static int model[CLIENTS];
    static struct serve_client_key keys[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        char text[32];
        snprintf(text, sizeof text, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        keys[i] = key_of(v4(text, 1));
    }
    unsigned seed = 12345;
    int mismatches = 0;
    for (int s = 0; s < STEPS; s++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % CLIENTS);
        if ((seed >> 4) & 1) {
            bool ok = serve_client_acquire(t, &keys[i], LIMIT);
            if (ok != (model[i] < LIMIT))
                mismatches++;
            if (ok)
                model[i]++;
        } else if (model[i] > 0) {
            serve_client_release(t, &keys[i]);
            model[i]--;
        }
        if (serve_client_count(t, &keys[i]) != model[i])
            mismatches++;
    }
    for (int i = 0; i < CLIENTS; i++) {
        if (serve_client_count(t, &keys[i]) != model[i])
            mismatches++;
        while (model[i]-- > 0)
            serve_client_release(t, &keys[i]);
    }
    for (int i = 0; i < CLIENTS; i++)
        if (serve_client_count(t, &keys[i]) != 0)
            mismatches++;
    CHECK_INT(mismatches, 0);
    serve_client_table_free(t);
}

int main(void)
{
    RUN(limit_per_address);
    RUN(keys_group_ipv6_by_64_and_map_ipv4);
    RUN(table_matches_a_model);
    return TEST_MAIN_END();
}
