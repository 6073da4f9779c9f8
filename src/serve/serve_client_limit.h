/* serve_client_limit — how many connections each client holds, so one client cannot take every
 * file descriptor of a worker (--max-conns-per-client, docs/security.md).
 *
 * A client is an IPv4 address, or an IPv6 /64 (one host or one subscriber gets a whole /64, so
 * counting single IPv6 addresses would limit nothing); IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
 * a dual-stack listener) count as their IPv4 address. Counts are per worker process. The table
 * is an open-addressing hash set keyed by those 16 bytes; it holds only clients with at least one
 * connection, so its size follows the open connections, never the clients ever seen. */
#ifndef AIRFACTORY_SERVE_CLIENT_LIMIT_H
#define AIRFACTORY_SERVE_CLIENT_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct serve_client_key {
    uint8_t addr[16];
};

struct serve_client_table;

struct serve_client_table *serve_client_table_new(void);
void serve_client_table_free(struct serve_client_table *table);
/* The key of a peer address (AF_INET, AF_INET6; anything else maps to one shared key). */
void serve_client_key_of(const struct sockaddr_storage *peer, struct serve_client_key *key);
/* Count one more connection for key unless it already holds limit (limit 0: no limit).
 * False when the client is at its limit (nothing counted). */
bool serve_client_acquire(struct serve_client_table *table, const struct serve_client_key *key, int limit);
/* One connection of key closed (it must have been acquired). */
void serve_client_release(struct serve_client_table *table, const struct serve_client_key *key);
/* Connections key holds now (tests, metrics). */
int serve_client_count(const struct serve_client_table *table, const struct serve_client_key *key);

#endif
