/* test_pool.c - fixed-size object pools (pool.h). */
#include "pool.h"
#include "unit.h"

#include <stdint.h>

static bool aligned16(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

static void test_no_pool(void)
{
    /* Without pool_init it is malloc/free at the exact size. */
    struct pool p = { 0 };
    CHECK(!pool_active(&p));
    char *a = pool_alloc(&p, 100);
    char *b = pool_alloc(&p, 1 << 20);
    CHECK(a != NULL && b != NULL && a != b);
    if (a && b) {
        memset(a, 1, 100);          /* usable (ASan checks the bounds) */
        memset(b, 2, 1 << 20);
    }
    pool_free(&p, a);
    pool_free(&p, b);
    pool_free(&p, NULL);
    CHECK(!pool_active(&p));
    /* Many allocations: nothing is limited without a pool. */
    void *v[1000];
    bool ok = true;
    for (int i = 0; i < 1000; i++)
        ok &= (v[i] = pool_alloc(&p, 64)) != NULL;
    for (int i = 0; i < 1000; i++)
        pool_free(&p, v[i]);
    CHECK(ok);
}

static void test_exhaustion(void)
{
    struct pool p = { 0 };
    if (!CHECK(pool_init(&p, 4, 100)))
        return;
    CHECK(pool_active(&p));
    size_t bs = p.size;
    CHECK(bs >= 100);

    void *blk[4];
    for (int i = 0; i < 4; i++) {
        blk[i] = pool_alloc(&p, 100);
        CHECK(blk[i] != NULL);
        CHECK(aligned16(blk[i]));
        if (blk[i])
            memset(blk[i], 0x40 + i, 100);
    }
    /* Distinct, non-overlapping blocks. */
    bool disjoint = true;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (i != j && (char *)blk[i] < (char *)blk[j] + 100 &&
                (char *)blk[j] < (char *)blk[i] + 100)
                disjoint = false;
    CHECK(disjoint);
    bool intact = true;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 100; k++)
            intact &= ((unsigned char *)blk[i])[k] == 0x40 + i;
    CHECK(intact);

    CHECK(pool_alloc(&p, 1) == NULL);
    CHECK(pool_alloc(&p, 100) == NULL);
    CHECK_EQ(p.used, 4);

    /* Free then alloc reuses the freed block. */
    pool_free(&p, blk[2]);
    CHECK_EQ(p.used, 3);
    void *again = pool_alloc(&p, 50);
    CHECK(again == blk[2]);
    CHECK(pool_alloc(&p, 50) == NULL);

    /* Free all, then all four can be had again (and no more). */
    pool_free(&p, blk[0]);
    pool_free(&p, blk[1]);
    pool_free(&p, again);
    pool_free(&p, blk[3]);
    pool_free(&p, NULL);
    CHECK_EQ(p.used, 0);
    void *re[5];
    int got = 0;
    for (int i = 0; i < 5; i++)
        if ((re[i] = pool_alloc(&p, bs)) != NULL)
            got++;
    CHECK_EQ(got, 4);
    CHECK(re[4] == NULL);
    bool same = true;
    for (int i = 0; i < 4; i++) {
        bool found = false;
        for (int j = 0; j < 4; j++)
            found |= re[i] == blk[j];
        same &= found;
    }
    CHECK(same);            /* only the preallocated blocks are handed out */

    free(p.mem);
}

static void test_need_too_big(void)
{
    struct pool p = { 0 };
    if (!CHECK(pool_init(&p, 3, 64)))
        return;
    CHECK(p.size >= 64);
    CHECK(pool_alloc(&p, p.size + 1) == NULL);
    CHECK(pool_alloc(&p, 1 << 20) == NULL);
    CHECK(pool_alloc(&p, (size_t)-1) == NULL);
    CHECK_EQ(p.used, 0);        /* a refused request takes nothing */
    void *a = pool_alloc(&p, p.size);
    CHECK(a != NULL);
    if (a)
        memset(a, 0, p.size);   /* the whole block is usable */
    CHECK(pool_alloc(&p, 0) != NULL);
    CHECK_EQ(p.used, 2);
    free(p.mem);
}

static void test_small_and_empty(void)
{
    /* Blocks smaller than a pointer still work (the free list lives in
     * the block). */
    struct pool p = { 0 };
    if (CHECK(pool_init(&p, 8, 1))) {
        void *a = pool_alloc(&p, 1), *b = pool_alloc(&p, 1);
        CHECK(a && b && a != b);
        pool_free(&p, a);
        CHECK(pool_alloc(&p, 1) == a);
        free(p.mem);
    }

    /* An empty pool is active and hands out nothing: no fallback to malloc. */
    struct pool e = { 0 };
    if (CHECK(pool_init(&e, 0, 64))) {
        CHECK(pool_active(&e));
        CHECK(pool_alloc(&e, 1) == NULL);
        free(e.mem);
    }

    /* A big pool: every block distinct, LIFO reuse. */
    struct pool big = { 0 };
    enum { N = 5000 };
    if (CHECK(pool_init(&big, N, 48))) {
        static void *v[N];
        bool ok = true;
        for (int i = 0; i < N; i++) {
            v[i] = pool_alloc(&big, 48);
            ok &= v[i] != NULL && aligned16(v[i]);
            if (v[i])
                memset(v[i], i & 0xff, 48);
        }
        CHECK(ok);
        CHECK(pool_alloc(&big, 1) == NULL);
        for (int i = 0; i < N; i += 3)
            pool_free(&big, v[i]);
        ok = true;
        for (int i = 0; i < N; i += 3)
            ok &= pool_alloc(&big, 48) != NULL;
        CHECK(ok);
        CHECK(pool_alloc(&big, 1) == NULL);
        CHECK_EQ(big.used, N);
        free(big.mem);
    }
}

static void test_exhausted(void)
{
    /* Without a pool nothing is ever exhausted; with one, exactly when
     * every block is out. */
    struct pool none = { 0 };
    CHECK(!pool_exhausted(&none));
    struct pool p = { 0 };
    if (!CHECK(pool_init(&p, 2, 32)))
        return;
    CHECK(!pool_exhausted(&p));
    void *a = pool_alloc(&p, 8);
    CHECK(!pool_exhausted(&p));
    void *b = pool_alloc(&p, 8);
    CHECK(a && b && pool_exhausted(&p));
    pool_free(&p, a);
    CHECK(!pool_exhausted(&p));
    free(p.mem);
}

static void test_foreign_block_and_destroy(void)
{
    /* An object malloc'd apart from an active pool (the notify.fd handle)
     * goes back to the allocator, never onto the free list; destroy
     * returns to no pool. */
    struct pool p = { 0 };
    if (!CHECK(pool_init(&p, 2, 32)))
        return;
    void *a = pool_alloc(&p, 8);
    void *own = malloc(32);
    pool_free(&p, own);             /* freed (ASan/valgrind would see a leak or a bad free) */
    CHECK_EQ(p.used, 1);
    pool_free(&p, a);
    CHECK_EQ(p.used, 0);
    CHECK(pool_alloc(&p, 8) != NULL && pool_alloc(&p, 8) != NULL);
    CHECK(pool_alloc(&p, 8) == NULL);   /* own did not join the pool */
    pool_destroy(&p);
    CHECK(!pool_active(&p));
    void *m = pool_alloc(&p, 100);      /* plain malloc again */
    CHECK(m != NULL);
    pool_free(&p, m);
}

UNIT_MAIN(test_no_pool, test_exhaustion, test_need_too_big, test_small_and_empty,
          test_exhausted, test_foreign_block_and_destroy)
