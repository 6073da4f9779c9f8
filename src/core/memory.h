/* memory — allocation that never returns NULL.
 *
 * Running out of memory is not an input error anyone can fix mid-build, so like Redis and git we
 * print one line and abort instead of threading ENOMEM through every caller. Large data is always
 * streamed, so allocations stay small. */
#ifndef AIRFACTORY_MEMORY_H
#define AIRFACTORY_MEMORY_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
