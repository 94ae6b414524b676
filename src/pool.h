/* pool.h - fixed-size object pools (--fd-pool, --service-pool).
 *
 * Without a pool, objects are malloc'd at their exact size.  With one, all
 * N blocks of `size` bytes are allocated up front and handed out from a
 * free list, so supervision never needs the allocator again.
 */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h>
#include <stddef.h>

/* Embedded in its owner; treat the members as private. */
struct pool {
    char *mem;
    void *free_list;
    size_t size, count, used;
};

/* Allocate n blocks of size bytes.  Returns false on failure. */
bool pool_init(struct pool *p, size_t n, size_t size);
bool pool_active(const struct pool *p);
/* True when a pool is active and every block is handed out. */
bool pool_exhausted(const struct pool *p);
/* A block of at least `need` bytes, or NULL (pool exhausted, or need is
 * larger than the block size, or malloc failed without a pool). */
void *pool_alloc(struct pool *p, size_t need);
void pool_free(struct pool *p, void *obj);
/* Free the blocks and go back to no pool: only once every block is free
 * (a testing seam: daemonproxy keeps its pools for life). */
void pool_destroy(struct pool *p);

#endif
