/* The drawing of a tape, before it becomes DOT text (private to graph/dot*.c):
 * which tensors are drawn, their stable ids, the scope tree, the edges and
 * the gradient norms. Everything is in tape order, so writing it out in array
 * order is deterministic. */
#ifndef TG_GRAPH_DOT_GRAPH_H
#define TG_GRAPH_DOT_GRAPH_H

#include <stdint.h>

#include "graph/dot.h"

/* A drawn tensor: an op result (node != NULL) or a leaf. */
typedef struct tg_dot_item {
    const tg_tensor *tensor;
    const tg_node *node;   /* the producing node when drawn as an op, else NULL */
    uint64_t id;           /* stable, unique among all ids of the drawing */
    int scope;             /* innermost scope, -1 at top level */
    int next_in_scope;     /* next item of the same scope (or top level), -1 */
    double grad_norm;      /* |dL/dx|_2, or -1 when there is none (or show_grads is off) */
    bool is_root;
    bool consumed;         /* an input of some drawn op */
} tg_dot_item;

/* A scope: a cluster, or one node when collapsed. The backward graph sits
 * under a virtual outermost scope (backward = true, path ""). */
typedef struct tg_dot_scope {
    const char *path;      /* full path, path_len bytes (not NUL-terminated) */
    size_t path_len;
    size_t name_offset;    /* the last component starts here */
    bool backward;
    int parent, depth, top; /* top: the outermost ancestor (itself at depth 0) */
    uint64_t id;            /* cluster id, or the collapsed node's id */
    int first_child, last_child, next_sibling;
    int first_item, last_item;
    int n_ops;              /* op items in it and below */
} tg_dot_scope;

/* An edge end: an item index >= 0, or a collapsed scope s as -(s + 1). */
typedef struct tg_dot_edge {
    int src, dst;
    int src_item;          /* the tensor flowing along the edge */
    int slot;              /* input slot at dst, -1 for no label */
    bool to_backward;      /* dst is a backward op */
} tg_dot_edge;

typedef struct tg_dot_graph {
    tg_dot_opts opts;
    tg_dot_item *items;
    int n_items, cap_items;
    tg_dot_scope *scopes;
    int n_scopes, cap_scopes;
    tg_dot_edge *edges;
    int n_edges, cap_edges;
    int first_top_item, last_top_item; /* items outside every scope */
    int first_top_scope, last_top_scope;
} tg_dot_graph;

/* Fills g (zeroed first); status + tg_last_error() on failure, g freed. */
tg_status tg_dot_graph_build(tg_dot_graph *g, const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts);
void tg_dot_graph_free(tg_dot_graph *g);

/* The end of a drawn edge for item i: the item, or its collapsed scope. */
int tg_dot_graph_end(const tg_dot_graph *g, int item);

/* node's attributes as its op's describe hook writes them (buf "" and 0 when
 * the op has none or the hook fails); returns the full length, which may be
 * size or more (buf then holds the truncated text). */
int tg_dot_describe(const tg_node *node, char *buf, size_t size);

#endif
