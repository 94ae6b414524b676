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

struct tree {
    struct tree_node *root;
    const char *(*key)(const struct tree_node *n);
    size_t count;
};

void tree_init(struct tree *t, const char *(*key)(const struct tree_node *));
struct tree_node *tree_find(const struct tree *t, const char *key);
/* Insert n; its key must not be present (returns the existing node if it
 * is, and does not insert). */
struct tree_node *tree_insert(struct tree *t, struct tree_node *n);
void tree_remove(struct tree *t, struct tree_node *n);
/* Smallest node whose key is > key ("" or NULL: the first node). */
struct tree_node *tree_next_after(const struct tree *t, const char *key);

#endif
