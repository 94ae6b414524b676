/* tree.c - intrusive AVL tree (see tree.h).  Recursive insert/remove: the
 * depth is bounded by 1.44 log2(n), about 30 for a million nodes. */
#include "tree.h"

#include <string.h>

void tree_init(struct tree *t, const char *(*key)(const struct tree_node *))
{
    t->root = NULL;
    t->key = key;
    t->count = 0;
}

size_t tree_count(const struct tree *t) { return t->count; }

static void walk(struct tree_node *n, void (*fn)(struct tree_node *, void *), void *ctx)
{
    while (n) {
        walk(n->left, fn, ctx);
        struct tree_node *right = n->right;
        fn(n, ctx);
        n = right;
    }
}

void tree_foreach(const struct tree *t, void (*fn)(struct tree_node *n, void *ctx), void *ctx)
{
    walk(t->root, fn, ctx);
}

static int height(const struct tree_node *n) { return n ? n->height : 0; }

static void fix(struct tree_node *n)
{
    int l = height(n->left), r = height(n->right);
    n->height = (l > r ? l : r) + 1;
}

static struct tree_node *rot_right(struct tree_node *n)
{
    struct tree_node *l = n->left;
    n->left = l->right;
    l->right = n;
    fix(n);
    fix(l);
    return l;
}

static struct tree_node *rot_left(struct tree_node *n)
{
    struct tree_node *r = n->right;
    n->right = r->left;
    r->left = n;
    fix(n);
    fix(r);
    return r;
}

static struct tree_node *balance(struct tree_node *n)
{
    fix(n);
    int b = height(n->left) - height(n->right);
    if (b > 1) {
        if (height(n->left->left) < height(n->left->right))
            n->left = rot_left(n->left);
        return rot_right(n);
    }
    if (b < -1) {
        if (height(n->right->right) < height(n->right->left))
            n->right = rot_right(n->right);
        return rot_left(n);
    }
    return n;
}

struct tree_node *tree_find(const struct tree *t, const char *key)
{
    struct tree_node *n = t->root;
    while (n) {
        int c = strcmp(key, t->key(n));
        if (c == 0)
            return n;
        n = c < 0 ? n->left : n->right;
    }
    return NULL;
}

static struct tree_node *ins(struct tree *t, struct tree_node *at,
                             struct tree_node *n, struct tree_node **dup)
{
    if (!at)
        return n;
    int c = strcmp(t->key(n), t->key(at));
    if (c == 0) {
        *dup = at;
        return at;
    }
    if (c < 0)
        at->left = ins(t, at->left, n, dup);
    else
        at->right = ins(t, at->right, n, dup);
    return *dup ? at : balance(at);
}

struct tree_node *tree_insert(struct tree *t, struct tree_node *n)
{
    struct tree_node *dup = NULL;
    n->left = n->right = NULL;
    n->height = 1;
    t->root = ins(t, t->root, n, &dup);
    if (!dup)
        t->count++;
    return dup;
}

static struct tree_node *remove_min(struct tree_node *at, struct tree_node **min)
{
    if (!at->left) {
        *min = at;
        return at->right;
    }
    at->left = remove_min(at->left, min);
    return balance(at);
}

static struct tree_node *rem(struct tree *t, struct tree_node *at,
                             struct tree_node *n, int *found)
{
    if (!at)
        return NULL;
    if (at == n) {
        *found = 1;
        if (!at->right)
            return at->left;
        struct tree_node *min;
        struct tree_node *r = remove_min(at->right, &min);
        min->left = at->left;
        min->right = r;
        return balance(min);
    }
    int c = strcmp(t->key(n), t->key(at));
    if (c < 0)
        at->left = rem(t, at->left, n, found);
    else
        at->right = rem(t, at->right, n, found);
    return balance(at);
}

void tree_remove(struct tree *t, struct tree_node *n)
{
    int found = 0;
    t->root = rem(t, t->root, n, &found);
    if (found)
        t->count--;
    n->left = n->right = NULL;
}

struct tree_node *tree_next_after(const struct tree *t, const char *key)
{
    struct tree_node *n = t->root, *best = NULL;
    if (!key)
        key = "";
    while (n) {
        if (strcmp(t->key(n), key) > 0) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

/* The stack holds the ancestors a search went left from (each greater than
 * all below it on the path): its top is the next node.  An AVL tree of
 * 2^32 nodes is less than 47 high, so 64 entries are never exceeded. */
struct tree_node *tree_iter_after(const struct tree *t, const char *key, struct tree_iter *it)
{
    it->depth = 0;
    if (!key)
        key = "";
    for (struct tree_node *n = t->root; n; )
        if (strcmp(t->key(n), key) > 0) {
            it->up[it->depth++] = n;
            n = n->left;
        } else {
            n = n->right;
        }
    return it->depth ? it->up[it->depth - 1] : NULL;
}

struct tree_node *tree_iter_next(struct tree_iter *it)
{
    if (!it->depth)
        return NULL;
    struct tree_node *n = it->up[--it->depth]->right;
    for (; n; n = n->left)
        it->up[it->depth++] = n;
    return it->depth ? it->up[it->depth - 1] : NULL;
}
