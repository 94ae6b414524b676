/* test_tree.c - the intrusive AVL tree (tree.h): lookups, ordered and
 * resumable iteration, and a random stress run against a sorted array with
 * a full structural check (heights, balance, order, count). */
#include "tree.h"
#include "unit.h"

#include <stddef.h>

struct item {
    struct tree_node node;
    char key[16];
};

static const char *item_key(const struct tree_node *n)
{
    return ((const struct item *)((const char *)n - offsetof(struct item, node)))->key;
}

static struct item *item_of(struct tree_node *n)
{
    return n ? (struct item *)((char *)n - offsetof(struct item, node)) : NULL;
}

/* --- structural checker -------------------------------------------------- */

struct walk {
    size_t nodes;
    bool ok;
    const char *why;
};

/* Returns the real height of the subtree; checks stored heights, balance
 * and that every key lies strictly between lo and hi (NULL = unbounded). */
static int walk(const struct tree *t, const struct tree_node *n, const char *lo,
                const char *hi, struct walk *w, int depth)
{
    if (!n)
        return 0;
    if (depth > 64) {           /* a cycle, or hopelessly unbalanced */
        w->ok = false;
        w->why = "depth > 64";
        return 0;
    }
    w->nodes++;
    const char *k = t->key(n);
    if ((lo && strcmp(k, lo) <= 0) || (hi && strcmp(k, hi) >= 0)) {
        w->ok = false;
        w->why = "BST order";
    }
    int hl = walk(t, n->left, lo, k, w, depth + 1);
    int hr = walk(t, n->right, k, hi, w, depth + 1);
    int h = (hl > hr ? hl : hr) + 1;
    if (n->height != h) {
        w->ok = false;
        w->why = "stored height";
    }
    if (hl - hr > 1 || hr - hl > 1) {
        w->ok = false;
        w->why = "balance factor";
    }
    return h;
}

/* Fewest nodes an AVL tree of height h can have: N(h) = N(h-1) + N(h-2) + 1
 * (so h < 1.4405 log2(n + 2)). */
static size_t avl_min_nodes(int h)
{
    size_t a = 0, b = 1;    /* N(0), N(1) */
    if (h == 0)
        return 0;
    for (int i = 1; i < h; i++) {
        size_t c = a + b + 1;
        a = b;
        b = c;
    }
    return b;
}

/* Full check: structure, count, and the AVL height bound. */
static bool tree_ok(const struct tree *t, const char **why)
{
    struct walk w = { 0, true, NULL };
    int h = walk(t, t->root, NULL, NULL, &w, 0);
    if (w.ok && w.nodes != t->count) {
        w.ok = false;
        w.why = "count";
    }
    if (w.ok && w.nodes < avl_min_nodes(h)) {
        w.ok = false;
        w.why = "height bound";
    }
    if (why)
        *why = w.why;
    return w.ok;
}

#define CHECK_TREE(t)                                               \
    do {                                                            \
        const char *why_ = NULL;                                    \
        if (!CHECK(tree_ok((t), &why_)))                            \
            fprintf(stderr, "  tree check: %s\n", why_ ? why_ : "?"); \
    } while (0)

/* --- tests ----------------------------------------------------------------- */

static void test_empty(void)
{
    struct tree t;
    tree_init(&t, item_key);
    CHECK(t.root == NULL);
    CHECK_EQ(t.count, 0);
    CHECK(tree_find(&t, "x") == NULL);
    CHECK(tree_find(&t, "") == NULL);
    CHECK(tree_next_after(&t, NULL) == NULL);
    CHECK(tree_next_after(&t, "") == NULL);
    CHECK(tree_next_after(&t, "zzz") == NULL);
    CHECK_TREE(&t);
}

static void test_basic(void)
{
    struct tree t;
    struct item it[5];
    const char *keys[] = { "mysql", "log", "a", "z", "mysql-log" };
    tree_init(&t, item_key);
    for (int i = 0; i < 5; i++) {
        snprintf(it[i].key, sizeof it[i].key, "%s", keys[i]);
        CHECK(tree_insert(&t, &it[i].node) == NULL);
    }
    CHECK_EQ(t.count, 5);
    CHECK_TREE(&t);
    for (int i = 0; i < 5; i++)
        CHECK(tree_find(&t, keys[i]) == &it[i].node);
    CHECK(tree_find(&t, "b") == NULL);
    CHECK(tree_find(&t, "mysq") == NULL);
    CHECK(tree_find(&t, "mysql-") == NULL);
    CHECK(tree_find(&t, "") == NULL);
    CHECK(tree_find(&t, "zz") == NULL);

    /* A duplicate returns the existing node and changes nothing. */
    struct item dup;
    snprintf(dup.key, sizeof dup.key, "log");
    CHECK(tree_insert(&t, &dup.node) == &it[1].node);
    CHECK_EQ(t.count, 5);
    CHECK(tree_find(&t, "log") == &it[1].node);
    CHECK_TREE(&t);

    /* Sorted iteration. */
    const char *sorted[] = { "a", "log", "mysql", "mysql-log", "z" };
    struct tree_node *n = tree_next_after(&t, NULL);
    for (int i = 0; i < 5; i++) {
        if (!CHECK(n != NULL))
            break;
        CHECK_STREQ(item_key(n), sorted[i]);
        n = tree_next_after(&t, item_key(n));
    }
    CHECK(n == NULL);
    CHECK(tree_next_after(&t, "") == &it[2].node);
    /* next_after works for keys that are not in the tree. */
    CHECK_STREQ(item_of(tree_next_after(&t, "b"))->key, "log");
    CHECK_STREQ(item_of(tree_next_after(&t, "mysql-"))->key, "mysql-log");
    CHECK_STREQ(item_of(tree_next_after(&t, "mysql+"))->key, "mysql-log");
    CHECK_STREQ(item_of(tree_next_after(&t, "mysql."))->key, "z");
    CHECK(tree_next_after(&t, "z") == NULL);
    CHECK(tree_next_after(&t, "\xff") == NULL);

    /* Removal: leaf, inner node, root, down to empty. */
    tree_remove(&t, &it[3].node);       /* z */
    CHECK_EQ(t.count, 4);
    CHECK(tree_find(&t, "z") == NULL);
    CHECK_TREE(&t);
    tree_remove(&t, &it[0].node);       /* mysql */
    CHECK_EQ(t.count, 3);
    CHECK(tree_find(&t, "mysql") == NULL);
    CHECK(tree_find(&t, "mysql-log") == &it[4].node);
    CHECK_TREE(&t);
    /* Removing a node that is not in the tree (same key as none) is a no-op. */
    struct item stray;
    snprintf(stray.key, sizeof stray.key, "q");
    stray.node.left = stray.node.right = NULL;
    stray.node.height = 1;
    tree_remove(&t, &stray.node);
    CHECK_EQ(t.count, 3);
    CHECK_TREE(&t);
    /* ... and so is removing the duplicate (same key as a member). */
    tree_remove(&t, &dup.node);
    CHECK_EQ(t.count, 3);
    CHECK(tree_find(&t, "log") == &it[1].node);
    CHECK_TREE(&t);

    while (t.root) {
        tree_remove(&t, t.root);
        CHECK_TREE(&t);
    }
    CHECK_EQ(t.count, 0);
    for (int i = 0; i < 5; i++)
        CHECK(tree_find(&t, keys[i]) == NULL);

    /* Re-inserting removed nodes works (their links were reset). */
    for (int i = 0; i < 5; i++)
        CHECK(tree_insert(&t, &it[i].node) == NULL);
    CHECK_EQ(t.count, 5);
    CHECK_TREE(&t);
}

/* Ascending and descending insertion are the classic worst cases for an
 * unbalanced tree. */
static void test_sequential(void)
{
    enum { N = 4096 };
    static struct item it[N];
    struct tree t;
    for (int dir = 0; dir < 2; dir++) {
        tree_init(&t, item_key);
        bool ok = true;
        for (int i = 0; i < N; i++) {
            int k = dir ? N - 1 - i : i;
            snprintf(it[k].key, sizeof it[k].key, "k%06d", k);
            ok &= tree_insert(&t, &it[k].node) == NULL;
        }
        CHECK(ok);
        CHECK_EQ(t.count, N);
        CHECK_TREE(&t);
        CHECK(t.root->height <= 13);    /* perfectly balanced would be 12 */
        /* Remove every other, then the rest in ascending order. */
        for (int i = 0; i < N; i += 2)
            tree_remove(&t, &it[i].node);
        CHECK_EQ(t.count, N / 2);
        CHECK_TREE(&t);
        ok = true;
        for (int i = 0; i < N; i++)
            ok &= (tree_find(&t, it[i].key) != NULL) == (i % 2 == 1);
        CHECK(ok);
        for (int i = 1; i < N; i += 2)
            tree_remove(&t, &it[i].node);
        CHECK_EQ(t.count, 0);
        CHECK(t.root == NULL);
    }
}

/* Ordered iteration that resumes by key while the tree changes between
 * steps (statedump over a slow pipe). */
static void test_resumable(void)
{
    enum { N = 200 };
    static struct item it[2 * N];
    struct tree t;
    tree_init(&t, item_key);
    /* Even keys now; odd keys get inserted during the iteration. */
    for (int i = 0; i < 2 * N; i++)
        snprintf(it[i].key, sizeof it[i].key, "s%04d", i);
    for (int i = 0; i < 2 * N; i += 2)
        tree_insert(&t, &it[i].node);

    bool seen[2 * N] = { false };
    bool ok = true;
    char last[16] = "";
    int steps = 0;
    struct tree_node *n;
    while ((n = tree_next_after(&t, last)) != NULL) {
        int i = atoi(item_key(n) + 1);
        if (strcmp(item_key(n), last) <= 0 || seen[i])
            ok = false;         /* not strictly ascending, or repeated */
        seen[i] = true;
        snprintf(last, sizeof last, "%s", item_key(n));
        steps++;
        if (i % 10 == 0) {
            /* Remove the current node itself: iteration goes on by key. */
            tree_remove(&t, n);
        }
        if (i + 1 < 2 * N && i % 4 == 0)
            tree_insert(&t, &it[i + 1].node);   /* just ahead: must be seen */
        if (i >= 3 && i % 6 == 0 && !tree_find(&t, it[i - 3].key))
            tree_insert(&t, &it[i - 3].node);   /* behind: must not be seen */
        if (i + 4 < 2 * N && i % 8 == 2)
            tree_remove(&t, &it[i + 4].node);   /* ahead: must not be seen */
        if (steps > 4 * N)
            break;
    }
    CHECK(ok);
    CHECK(steps <= 4 * N);
    /* What must and must not have been visited. */
    bool vis_ok = true;
    for (int i = 0; i < 2 * N; i++) {
        bool want;
        if (i % 2 == 0)
            want = !(i >= 4 && (i - 4) % 8 == 2);       /* removed before reached */
        else
            want = ((i - 1) % 4 == 0);                  /* inserted just ahead */
        if (seen[i] != want) {
            if (vis_ok)
                fprintf(stderr, "resumable: key %d seen=%d want=%d\n", i, seen[i], want);
            vis_ok = false;
        }
    }
    CHECK(vis_ok);
    CHECK_TREE(&t);
}

/* Random inserts and removes of up to 10,000 keys against a sorted array. */
static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_stress(void)
{
    enum { N = 10000 };
    static struct item it[N];
    static bool in[N];
    static char *ref[N];
    struct tree t;
    tree_init(&t, item_key);
    for (int i = 0; i < N; i++) {
        /* Keys of varying length so prefixes and order interleave. */
        snprintf(it[i].key, sizeof it[i].key, "%x%s", rnd() % 0x100000,
                 (i % 3) ? "" : ".svc");
        in[i] = false;
    }

    bool ok = true, structure = true, order = true;
    const char *why = NULL;
    size_t count = 0, dups = 0;
    for (int op = 0; op < 60000 && ok; op++) {
        int i = (int)(rnd() % N);
        bool grow = op < 30000 ? rnd() % 4 != 0 : rnd() % 4 == 0;
        if (grow && !in[i]) {
            struct tree_node *d = tree_insert(&t, &it[i].node);
            if (d) {
                /* Same key as another item already present. */
                dups++;
                ok = strcmp(item_key(d), it[i].key) == 0 && d != &it[i].node;
            } else {
                in[i] = true;
                count++;
            }
        } else if (!grow && in[i]) {
            tree_remove(&t, &it[i].node);
            in[i] = false;
            count--;
            ok = tree_find(&t, it[i].key) == NULL;
        }
        ok = ok && t.count == count;
        if (op % 997 == 0 && !tree_ok(&t, &why))
            structure = false, ok = false;
        if (op % 5000 == 4999 || !ok) {
            /* Compare the whole ordered iteration with the sorted array. */
            size_t n = 0;
            for (int k = 0; k < N; k++)
                if (in[k])
                    ref[n++] = it[k].key;
            qsort(ref, n, sizeof *ref, cmp_str);
            struct tree_node *x = tree_next_after(&t, NULL);
            for (size_t k = 0; k < n; k++) {
                if (!x || strcmp(item_key(x), ref[k]) != 0) {
                    order = false;
                    break;
                }
                if (tree_find(&t, ref[k]) != x)
                    order = false;
                x = tree_next_after(&t, item_key(x));
            }
            if (x)
                order = false;
            ok = ok && order;
        }
        if (!ok)
            fprintf(stderr, "stress failed at op %d (%s)\n", op, why ? why : "?");
    }
    CHECK(ok);
    CHECK(structure);
    CHECK(order);
    CHECK(dups > 0);        /* the key space makes some collisions likely */
    CHECK_TREE(&t);
    CHECK(t.count > 1000);

    /* Lookups of absent keys. */
    bool absent = true;
    for (int k = 0; k < N; k++) {
        if (!in[k] && tree_find(&t, it[k].key)) {
            /* only allowed when another item has the same key */
            bool other = false;
            for (int j = 0; j < N && !other; j++)
                other = in[j] && strcmp(it[j].key, it[k].key) == 0;
            absent &= other;
        }
    }
    CHECK(absent);

    /* Drain completely in random order, checking as we go. */
    bool drain_ok = true;
    for (int k = 0; k < N; k++) {
        int i = (int)((k * 7919u + 13) % N);
        if (in[i]) {
            tree_remove(&t, &it[i].node);
            in[i] = false;
            if (k % 500 == 0)
                drain_ok &= tree_ok(&t, NULL);
        }
    }
    CHECK(drain_ok);
    CHECK_EQ(t.count, 0);
    CHECK(t.root == NULL);
}

/* tree_foreach visits every node once, in key order; tree_count agrees. */
static int visited;
static char last_key[32];
static bool visit_ordered = true;

static void visit(struct tree_node *n, void *ctx)
{
    const char *k = item_key(n);
    if (visited && strcmp(last_key, k) >= 0)
        visit_ordered = false;
    snprintf(last_key, sizeof last_key, "%s", k);
    visited++;
    (*(int *)ctx)++;
}

/* The iterator against "next after" from every point, absent keys
 * included, on trees of every size up to 300 (every shape of path). */
static void test_iter(void)
{
    enum { N = 300 };
    static struct item it[N];
    struct tree t;
    tree_init(&t, item_key);
    struct tree_iter i;
    CHECK(tree_iter_after(&t, NULL, &i) == NULL);
    CHECK(tree_iter_next(&i) == NULL);
    bool same = true;
    size_t steps = 0;
    for (int n = 0; n < N; n++) {
        snprintf(it[n].key, sizeof it[n].key, "k%05u", (unsigned)(rnd() % 100000));
        if (tree_insert(&t, &it[n].node))
            continue;
        const char *from[] = { NULL, "", it[n].key, "k5", "k", "l" };
        for (size_t f = 0; f < sizeof from / sizeof from[0]; f++) {
            struct tree_node *a = tree_iter_after(&t, from[f], &i);
            struct tree_node *b = tree_next_after(&t, from[f]);
            for (; a || b; steps++) {
                same &= a == b;
                if (a != b)
                    break;
                a = tree_iter_next(&i);
                b = tree_next_after(&t, item_key(b));
            }
        }
    }
    CHECK(same);
    CHECK(steps > 20000);
    CHECK_TREE(&t);
}

static void test_foreach(void)
{
    static struct tree t = TREE_INIT(item_key);
    int calls = 0;
    tree_foreach(&t, visit, &calls);
    CHECK_EQ(calls, 0);
    CHECK_EQ(tree_count(&t), 0);
    enum { N = 1000 };
    static struct item items[N];
    for (int i = 0; i < N; i++) {
        /* inserted in a scrambled order */
        snprintf(items[i].key, sizeof items[i].key, "k%05d", (i * 7919) % N);
        tree_insert(&t, &items[i].node);
    }
    CHECK_EQ(tree_count(&t), N);
    visited = 0;
    tree_foreach(&t, visit, &calls);
    CHECK_EQ(calls, N);
    CHECK(visit_ordered);
    CHECK_STREQ(last_key, "k00999");
    tree_remove(&t, &items[0].node);
    CHECK_EQ(tree_count(&t), N - 1);
}

UNIT_MAIN(test_empty, test_basic, test_sequential, test_resumable, test_stress, test_iter,
          test_foreach)
