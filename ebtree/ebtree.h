/* ebtree.h - elastic binary trees: intrusive crit-bit trees in which every
 * element brings the one internal node it may need, so nothing is allocated. */
#ifndef STUD_EBTREE_H
#define STUD_EBTREE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Structure
 * ---------
 * The tree is a crit-bit (radix) tree. Keys are bit strings read MSB first:
 * bit 0 is the top bit of byte 0, bit 8 the top bit of byte 1, and so on.
 * Keys sit in leaves. Each internal node holds a bit index, the first bit on
 * which the keys below it differ; keys with a 0 there are on its left, keys
 * with a 1 on its right. An in-order walk therefore visits the keys in
 * memcmp() order. A tree of n keys has n leaves and n - 1 internal nodes.
 *
 * What makes it "elastic" is where those nodes come from: every element
 * embeds a struct eb_node, which has two parts,
 *   - a leaf part (leaf_up), the place of the element's key in the tree, and
 *   - a node part (branch[], bit, node_up), an internal node the element
 *     lends to the tree.
 * Inserting a key adds one leaf and at most one internal node; the new
 * element supplies both. So insertion never allocates, deletion never frees,
 * and elements may live anywhere: in a static array, in a slab, or in a
 * MAP_SHARED mapping used by several processes (as long as the mapping is at
 * the same address everywhere, since links are plain pointers). In a
 * non-empty tree exactly one element has its node part unused.
 *
 * Links are tagged pointers. A downward link (root->top, node->branch[])
 * names an element and says which of its parts is meant (leaf or node). An
 * upward link (leaf_up, node_up) names the node part and side, or the root,
 * that holds the downward link to this part. Having both makes deletion and
 * in-order stepping work from a node alone, without the root.
 *
 * Invariants (all verified by ebmb_check()):
 *   I1. Every downward link has the matching upward link back.
 *   I2. Bit indexes strictly increase from the top down and stay below the
 *       key length in bits.
 *   I3. All keys below a node agree on the bits before its bit index; the
 *       left subtree has 0 at that bit, the right one 1. Keys are unique.
 *   I4. A used node part lies on the path from the top to its own element's
 *       leaf. Hence when a leaf is removed, its parent node part (which is
 *       freed) belongs either to the same element, or to an element whose
 *       leaf lies below the departing element's node part, so that element
 *       can take over the departing node part's position as is. Deletion is
 *       thus O(1).
 *   I5. leaf_up == 0 exactly when the element is not in a tree, node_up == 0
 *       exactly when its node part is unused.
 *
 * Rules of use
 * ------------
 *   - The library keeps no global state, takes no locks and never allocates,
 *     logs or exits. Callers serialize all access to one tree.
 *   - A node must start out zeroed (ebmb_node_init(), memset(), or memory
 *     from mmap(MAP_ANONYMOUS)); after that the library keeps it consistent.
 *   - The struct eb_node fields are private: read or write them only through
 *     the functions below.
 *   - All keys in one tree have the same length, passed as key_len to every
 *     call that looks at keys. A key must not change while in a tree.
 */

/* The head of a tree. Zeroed (EB_ROOT, eb_root_init()) means empty. */
struct eb_root {
	uintptr_t	 top;		/* link to the top part, 0 if empty */
};

#define EB_ROOT		{ .top = 0 }

/* The two parts of one element. Private; see the description above. */
struct eb_node {
	uintptr_t	 branch[2];	/* node part: links to the subtrees */
	uintptr_t	 node_up;	/* node part: link up, 0 if unused */
	uintptr_t	 leaf_up;	/* leaf part: link up, 0 if not in a tree */
	size_t		 bit;		/* node part: index of the critical bit */
};

/*
 * A memory-block-key node: the key is key_len bytes stored right after the
 * links, in the flexible array member. Put the node as the last member of
 * the enclosing struct and make room for the key bytes after it. For
 * fixed-size objects (e.g. an array of cache slots) the simplest way is a
 * union that reserves the room:
 *
 *	struct sess {
 *		time_t		 expire;
 *		union {
 *			struct ebmb_node node;
 *			unsigned char	 room[EBMB_NODE_SIZE(32)];
 *		} id;			(last member; id.node.key[] has 32 bytes)
 *	};
 *
 * Strict ISO C wants a struct ending in a flexible array member to be the
 * outermost object; gcc and clang accept the forms above (and arrays of
 * struct sess) silently unless -pedantic is given. But no member may follow
 * the node, nor a struct sess unless it is the last member: clang warns
 * about that by default. Write keys through node->key.
 */
struct ebmb_node {
	struct eb_node	 node;		/* must be first */
	unsigned char	 key[];		/* key_len bytes, compared MSB first */
};

/* Bytes needed for an ebmb_node holding a key of len bytes. A macro because
 * it is used in constant expressions (array sizes). */
#define EBMB_NODE_SIZE(len)	(sizeof(struct ebmb_node) + (len))

/* The object containing the member "member" that ptr points to (ptr must
 * not be NULL). A macro because it takes a type. */
#define EB_ENTRY(ptr, type, member)					\
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

_Static_assert(offsetof(struct ebmb_node, key) == sizeof(struct ebmb_node),
    "ebmb_node key must start right at the end of the node");

/* Error codes returned by ebmb_check(); 0 means the tree is sound. */
enum eb_check_error {
	EB_ERR_LINK = -1,	/* a link is malformed or not mirrored (I1) */
	EB_ERR_BIT = -2,	/* bit indexes not increasing or too big (I2) */
	EB_ERR_ORDER = -3,	/* keys not ordered or not split by bit (I3) */
	EB_ERR_OWNER = -4,	/* a node part not above its own leaf (I4) */
	EB_ERR_COUNT = -5,	/* used node parts != leaves - 1 (I4, I5) */
};

/* Make root an empty tree. */
static inline void
eb_root_init(struct eb_root *root)
{
	root->top = 0;
}

/* Nonzero if the tree holds no element. */
static inline int
eb_is_empty(const struct eb_root *root)
{
	return root->top == 0;
}

/* Mark node as not in any tree (node and key bytes are not otherwise
 * touched). Needed once before first use unless the memory is zeroed. */
static inline void
ebmb_node_init(struct ebmb_node *node)
{
	node->node = (struct eb_node){ .bit = 0 };
}

/* Nonzero if node is currently in a tree. */
static inline int
ebmb_in_tree(const struct ebmb_node *node)
{
	return node->node.leaf_up != 0;
}

/* Key-independent operations on any ebtree (ebtree.c). */

/* The element with the smallest / largest key, or NULL if empty. */
struct eb_node	*eb_first(struct eb_root *root);
struct eb_node	*eb_last(struct eb_root *root);

/* The element after / before node in key order, or NULL at the end of the
 * tree or if node is not in a tree. */
struct eb_node	*eb_next(struct eb_node *node);
struct eb_node	*eb_prev(struct eb_node *node);

/* Remove node from its tree in O(1); the root is not needed. Afterwards the
 * node is marked not in a tree. Removing a node that is not in a tree (one
 * that was zeroed/initialized, already removed, or refused as a duplicate
 * by an insert) does nothing. */
void		 eb_delete(struct eb_node *node);

/* Memory-block keys (ebmbtree.c). */

/* Insert node, whose key[] holds key_len bytes, unless the tree already has
 * an equal key. Returns node if inserted; otherwise returns the existing
 * node, leaves the tree unchanged and marks node as not in a tree. node must
 * not be in a tree already. O(key_len + depth); never allocates. */
struct ebmb_node *ebmb_insert(struct eb_root *root, struct ebmb_node *node,
		    size_t key_len);

/* The node whose key equals the key_len bytes at key, or NULL. */
struct ebmb_node *ebmb_lookup(struct eb_root *root, const void *key,
		    size_t key_len);

/* Verify invariants I1-I5 of a tree of key_len-byte keys. Returns 0 if the
 * tree is sound, else a negative enum eb_check_error. Has no side effects;
 * takes O(n * depth). Meant for tests and debugging. */
int		 ebmb_check(const struct eb_root *root, size_t key_len);

/* The ebmb_node owning n, or NULL if n is NULL. */
static inline struct ebmb_node *
ebmb_entry(struct eb_node *n)
{
	return n == NULL ? NULL : EB_ENTRY(n, struct ebmb_node, node);
}

/* Remove node from its tree; see eb_delete(). */
static inline void
ebmb_delete(struct ebmb_node *node)
{
	eb_delete(&node->node);
}

/* The node with the smallest key, or NULL if the tree is empty. */
static inline struct ebmb_node *
ebmb_first(struct eb_root *root)
{
	return ebmb_entry(eb_first(root));
}

/* The node with the largest key, or NULL if the tree is empty. */
static inline struct ebmb_node *
ebmb_last(struct eb_root *root)
{
	return ebmb_entry(eb_last(root));
}

/* The node with the next larger key, or NULL; see eb_next(). */
static inline struct ebmb_node *
ebmb_next(struct ebmb_node *node)
{
	return ebmb_entry(eb_next(&node->node));
}

/* The node with the next smaller key, or NULL; see eb_prev(). */
static inline struct ebmb_node *
ebmb_prev(struct ebmb_node *node)
{
	return ebmb_entry(eb_prev(&node->node));
}

#endif /* STUD_EBTREE_H */
