/* pool.c - fixed-size object pools (see pool.h). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

bool pool_init(struct pool *p, size_t n, size_t size)
{
    if (size < sizeof(void *))
        size = sizeof(void *);     /* a free block holds the list link */
    size = (size + 15) & ~(size_t)15;
    char *mem = calloc(n ? n : 1, size);
    if (!mem)
        return false;
    p->mem = mem;
    p->size = size;
    p->count = n;
    p->used = 0;
    p->free_list = NULL;
    for (size_t i = n; i-- > 0;) {
        void **blk = (void **)(mem + i * size);
        *blk = p->free_list;
        p->free_list = blk;
    }
    return true;
}

bool pool_active(const struct pool *p) { return p->mem != NULL; }
bool pool_exhausted(const struct pool *p) { return p->mem && !p->free_list; }

void *pool_alloc(struct pool *p, size_t need)
{
    if (!p->mem)
        return malloc(need);
    if (need > p->size || !p->free_list)
        return NULL;
    void **blk = p->free_list;
    p->free_list = *blk;
    p->used++;
    return blk;
}

void pool_free(struct pool *p, void *obj)
{
    if (!obj)
        return;
    /* Not one of the pool's blocks (no pool, or an object malloc'd apart
     * from it, as the notify.fd handle is): the allocator's. */
    if (!p->mem || (char *)obj < p->mem || (char *)obj >= p->mem + p->count * p->size) {
        free(obj);
        return;
    }
    void **blk = obj;
    *blk = p->free_list;
    p->free_list = blk;
    p->used--;
}

void pool_destroy(struct pool *p)
{
    free(p->mem);
    memset(p, 0, sizeof *p);
}
