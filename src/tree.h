/* tree.h - an intrusive AVL tree keyed by string: O(log n) lookup, insert,
 * delete and "next after key" for resumable ordered iteration (statedump).
 *
 * Nodes are embedded in their owner; the tree never allocates.  The key of
 * a node is given by the tree's key function.
 */
#ifndef TREE_H
#define TREE_H

#include <stddef.h>

struct tree_node {
    struct tree_node *left, *right;
    int height;
};

/* Embedded in its owner like a node; treat the members as private. */
struct tree {
    struct tree_node *root;
    const char *(*key)(const struct tree_node *n);
    size_t count;
};

/* A static initialiser, or tree_init() at run time. */
#define TREE_INIT(keyfn) { .root = NULL, .key = (keyfn), .count = 0 }
void tree_init(struct tree *t, const char *(*key)(const struct tree_node *));
size_t tree_count(const struct tree *t);
struct tree_node *tree_find(const struct tree *t, const char *key);
/* Insert n; its key must not be present (returns the existing node if it
 * is, and does not insert). */
struct tree_node *tree_insert(struct tree *t, struct tree_node *n);
void tree_remove(struct tree *t, struct tree_node *n);
/* Smallest node whose key is > key ("" or NULL: the first node). */
struct tree_node *tree_next_after(const struct tree *t, const char *key);
/* In key order without a search a node: from tree_iter_after(t, key, it),
 * the smallest node whose key is > key ("" or NULL: the first), then
 * tree_iter_next(it) for each following one; NULL at the end.  Valid only
 * while the tree is not changed (no insert or remove in between): a
 * statedump takes turns with the event loop, so it starts again from the
 * last name each turn and walks with the iterator within one. */
struct tree_iter {
    struct tree_node *up[64];   /* the current node on top, the ancestors to come below */
    int depth;
};
struct tree_node *tree_iter_after(const struct tree *t, const char *key, struct tree_iter *it);
struct tree_node *tree_iter_next(struct tree_iter *it);
/* Call fn on every node in key order.  fn must not insert or remove. */
void tree_foreach(const struct tree *t, void (*fn)(struct tree_node *n, void *ctx), void *ctx);

#endif
