/* Builds the drawing of a tape (see graph/dot_graph.h). */
#include "graph/dot_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "ops/fusion.h"

/* ---- a small open-addressing map: nonzero uint64 key -> int ----
 * Keys are tensor addresses, ids and scope hashes; it is only ever looked up,
 * never iterated, so addresses cannot leak into the output order. */
typedef struct {
    uint64_t *keys;
    int *values;
    size_t cap, count;
} map;

static size_t map_home(uint64_t key, size_t cap) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int map_get(const map *m, uint64_t key) {
    if (!m->cap) return -1;
    for (size_t i = map_home(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) return m->values[i];
        if (m->keys[i] == 0) return -1;
    }
}

static bool map_put(map *m, uint64_t key, int value) {
    if ((m->count + 1) * 2 > m->cap) {
        map grown = {calloc(m->cap ? m->cap * 2 : 64, sizeof(uint64_t)), NULL, m->cap ? m->cap * 2 : 64, 0};
        grown.values = malloc(grown.cap * sizeof(int));
        if (!grown.keys || !grown.values) {
            free(grown.keys);
            free(grown.values);
            return false;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) map_put(&grown, m->keys[i], m->values[i]);
        free(m->keys);
        free(m->values);
        *m = grown;
    }
    size_t i = map_home(key, m->cap);
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->count++;
    m->keys[i] = key;
    m->values[i] = value;
    return true;
}

static void map_free(map *m) {
    free(m->keys);
    free(m->values);
}

/* ---- the builder ---- */
typedef struct {
    tg_dot_graph *g;
    const tg_tape *t;
    map tensors; /* address -> item */
    map scopes;  /* path hash -> scope */
    map used;    /* ids handed out */
    bool failed;
} builder;

/* array with room for count + 1 elements (cap updated), or NULL (array kept) */
static void *grown(void *array, int *cap, int count, size_t elem) {
    if (count < *cap) return array;
    int fresh = *cap ? *cap * 2 : 64;
    void *p = realloc(array, (size_t)fresh * elem);
    if (p) *cap = fresh;
    return p;
}

static bool on_tape(const tg_tape *t, const tg_node *node) {
    return node && tg_tape_node(t, node->index) == node;
}

/* An id no other part of the drawing has: equal structures are told apart
 * by rehashing with a counter, in the order they are met on the tape. */
static uint64_t unique_id(builder *b, uint64_t h) {
    for (uint64_t k = 1; h == 0 || map_get(&b->used, h) >= 0; k++) h = XXH3_64bits_withSeed(&h, sizeof h, k);
    if (!map_put(&b->used, h, 0)) b->failed = true;
    return h;
}

/* Length-prefixed fields, so ("ab","c") and ("a","bc") hash apart. */
static void hash_field(XXH3_state_t *s, const void *p, size_t n) {
    uint64_t len = p ? (uint64_t)n : UINT64_MAX;
    XXH3_64bits_update(s, &len, sizeof len);
    if (p && n) XXH3_64bits_update(s, p, n);
}
static void hash_string(XXH3_state_t *s, const char *str) { hash_field(s, str, str ? strlen(str) : 0); }
static void hash_int(XXH3_state_t *s, int64_t v) { XXH3_64bits_update(s, &v, sizeof v); }

static void hash_tensor_type(XXH3_state_t *s, const tg_tensor *x) {
    hash_int(s, x->dtype);
    hash_int(s, x->ndim);
    for (int i = 0; i < x->ndim; i++) hash_int(s, x->shape[i]);
    hash_string(s, x->name);
}

/* sqrt(sum g^2), summed in order in double; a pending (fused) gradient is
 * computed into a temporary buffer first, leaving the tape as it was */
static double l2_norm(const tg_tensor *g) {
    double sum = 0;
    const void *data = g->data;
    void *buffer = NULL;
    if (!data && g->tape) {
        buffer = malloc((size_t)(g->numel ? g->numel : 1) * tg_dtype_size(g->dtype));
        bool add = false;
        if (!buffer || tg_fuse_realize_into(g->tape, 1, (tg_tensor *const[]){(tg_tensor *)g}, &buffer, &add)) {
            free(buffer);
            return -1;
        }
        data = buffer;
    }
    if (!data) return -1;
    if (g->dtype == TG_F32) {
        const float *p = data;
        for (int64_t i = 0; i < g->numel; i++) sum += (double)p[i] * (double)p[i];
    } else {
        const double *p = data;
        for (int64_t i = 0; i < g->numel; i++) sum += p[i] * p[i];
    }
    free(buffer);
    return sqrt(sum);
}

/* dL/dx: ->grad (leaves, kept results), else what the latest pass gathered on
 * a result. Stored tensors' pending_grad may point into a reset tape: unused. */
static double grad_norm(const tg_tensor *x) {
    if (x->grad) return l2_norm(x->grad);
    if (x->kind == TG_KIND_RESULT && x->tape && x->pending_pass && x->pending_grad) return l2_norm(x->pending_grad);
    return -1;
}

static int add_item(builder *b, const tg_tensor *x, const tg_node *node, uint64_t hash, int scope) {
    tg_dot_graph *g = b->g;
    tg_dot_item *items = grown(g->items, &g->cap_items, g->n_items, sizeof *items);
    if (!items) {
        b->failed = true;
        return -1;
    }
    g->items = items;
    int index = g->n_items++;
    g->items[index] = (tg_dot_item){.tensor = x,
                                    .node = node,
                                    .id = unique_id(b, hash),
                                    .scope = scope,
                                    .next_in_scope = -1,
                                    .grad_norm = g->opts.show_grads ? grad_norm(x) : -1};
    int *first = scope >= 0 ? &g->scopes[scope].first_item : &g->first_top_item;
    int *last = scope >= 0 ? &g->scopes[scope].last_item : &g->last_top_item;
    if (*last >= 0) g->items[*last].next_in_scope = index;
    else *first = index;
    *last = index;
    if (!map_put(&b->tensors, (uint64_t)(uintptr_t)x, index)) b->failed = true;
    return index;
}

static int leaf_item(builder *b, const tg_tensor *x) {
    int found = map_get(&b->tensors, (uint64_t)(uintptr_t)x);
    if (found >= 0) return found;
    XXH3_state_t s;
    XXH3_64bits_reset(&s);
    hash_int(&s, 'L');
    hash_int(&s, x->kind);
    hash_tensor_type(&s, x);
    return add_item(b, x, NULL, XXH3_64bits_digest(&s), -1);
}

/* The scope (backward, path[0..len)) under parent, made if new. */
static int scope_get(builder *b, const char *path, size_t len, bool backward, int parent) {
    tg_dot_graph *g = b->g;
    uint64_t key = XXH3_64bits_withSeed(path, len, backward ? 2 : 1);
    for (;; key = key * 0x9e3779b97f4a7c15ULL + 1) {
        if (!key) continue;
        int found = map_get(&b->scopes, key);
        if (found < 0) break;
        const tg_dot_scope *s = &g->scopes[found];
        if (s->backward == backward && s->path_len == len && memcmp(s->path, path, len) == 0) return found;
    }
    tg_dot_scope *scopes = grown(g->scopes, &g->cap_scopes, g->n_scopes, sizeof *scopes);
    if (scopes) g->scopes = scopes;
    if (!scopes || !map_put(&b->scopes, key, g->n_scopes)) {
        b->failed = true;
        return -1;
    }
    int index = g->n_scopes++;
    size_t name_offset = len;
    while (name_offset > 0 && path[name_offset - 1] != '/') name_offset--;
    tg_dot_scope *s = &g->scopes[index];
    *s = (tg_dot_scope){.path = path,
                        .path_len = len,
                        .name_offset = name_offset,
                        .backward = backward,
                        .parent = parent,
                        .depth = parent >= 0 ? g->scopes[parent].depth + 1 : 0,
                        .top = parent >= 0 ? g->scopes[parent].top : index,
                        .first_child = -1,
                        .last_child = -1,
                        .next_sibling = -1,
                        .first_item = -1,
                        .last_item = -1};
    int *first = parent >= 0 ? &g->scopes[parent].first_child : &g->first_top_scope;
    int *last = parent >= 0 ? &g->scopes[parent].last_child : &g->last_top_scope;
    if (*last >= 0) g->scopes[*last].next_sibling = index;
    else *first = index;
    *last = index;
    return index;
}

/* The innermost scope of a node ("a/b/c" makes a, a/b, a/b/c), -1 at top level. */
static int node_scope(builder *b, const tg_node *node) {
    int parent = node->in_backward ? scope_get(b, "", 0, true, -1) : -1;
    const char *path = node->scope;
    if (!path) return parent;
    size_t len = strlen(path), start = 0;
    for (size_t end = 0; end <= len && !b->failed; end++) {
        if (end < len && path[end] != '/') continue;
        if (end > start) parent = scope_get(b, path, end, node->in_backward, parent);
        start = end + 1;
    }
    return parent;
}

int tg_dot_describe(const tg_node *node, char *buf, size_t size) {
    if (size) buf[0] = '\0';
    int n = node->op->describe ? node->op->describe(node, buf, size) : 0;
    if (n < 0 && size) buf[0] = '\0';
    return n < 0 ? 0 : n;
}

/* The description text (describe hook) of node, hashed whole; ops without a
 * hook hash only the size of their attributes: their bytes may hold arena
 * pointers (an index array) and unset struct padding, which change from run
 * to run while the model does not. */
static void hash_attributes(builder *b, XXH3_state_t *s, const tg_node *node) {
    hash_int(s, (int64_t)node->attrs_size);
    hash_int(s, node->op->describe != NULL);
    if (!node->op->describe) return;
    char text[256], *big = NULL;
    int n = tg_dot_describe(node, text, sizeof text);
    if ((size_t)n >= sizeof text) {
        big = malloc((size_t)n + 1);
        if (!big) {
            b->failed = true;
            return;
        }
        tg_dot_describe(node, big, (size_t)n + 1);
    }
    hash_string(s, big ? big : text);
    free(big);
}

static int op_item(builder *b, const tg_node *node) {
    int inputs[8], *in = node->n_inputs <= 8 ? inputs : malloc(sizeof(int) * (size_t)node->n_inputs);
    if (!in) {
        b->failed = true;
        return -1;
    }
    for (int j = 0; j < node->n_inputs; j++) in[j] = leaf_item(b, node->inputs[j]);
    XXH3_state_t s;
    XXH3_64bits_reset(&s);
    hash_int(&s, 'O');
    hash_string(&s, node->op->name);
    hash_attributes(b, &s, node);
    hash_int(&s, node->n_inputs);
    for (int j = 0; j < node->n_inputs; j++) hash_int(&s, in[j] >= 0 ? (int64_t)b->g->items[in[j]].id : 0);
    if (in != inputs) free(in);
    hash_tensor_type(&s, node->output);
    hash_string(&s, node->scope);
    hash_int(&s, node->in_backward);
    int scope = node_scope(b, node);
    if (b->failed) return -1;
    int index = add_item(b, node->output, node, XXH3_64bits_digest(&s), scope);
    for (int k = scope; k >= 0 && index >= 0; k = b->g->scopes[k].parent) b->g->scopes[k].n_ops++;
    return index;
}

/* Which nodes are drawn: those reaching root (or all), without the backward
 * graph unless asked for (or root is part of it). */
static bool *select_nodes(const tg_tape *t, const tg_tensor *root, bool show_backward) {
    int64_t n = tg_tape_node_count(t);
    bool *selected = calloc((size_t)(n ? n : 1), sizeof *selected);
    if (!selected) return NULL;
    if (!root) {
        for (int64_t i = 0; i < n; i++) selected[i] = show_backward || !tg_tape_node(t, i)->in_backward;
        return selected;
    }
    if (!on_tape(t, root->node)) return selected;
    bool *needed = calloc((size_t)n, sizeof *needed);
    if (!needed) {
        free(selected);
        return NULL;
    }
    needed[root->node->index] = true;
    for (int64_t i = root->node->index; i >= 0; i--) {
        const tg_node *node = tg_tape_node(t, i);
        if (!needed[i] || (node->in_backward && !show_backward)) continue;
        selected[i] = true;
        for (int j = 0; j < node->n_inputs; j++)
            if (on_tape(t, node->inputs[j]->node) && node->inputs[j]->node->index < i)
                needed[node->inputs[j]->node->index] = true;
    }
    free(needed);
    return selected;
}

int tg_dot_graph_end(const tg_dot_graph *g, int item) {
    int scope = g->items[item].scope;
    if (!g->opts.collapse_scopes || scope < 0) return item;
    return -(g->scopes[scope].top + 1);
}

static void add_edges(builder *b) {
    tg_dot_graph *g = b->g;
    map seen = {0}; /* (tensor, collapsed scope) pairs already drawn */
    for (int i = 0; i < g->n_items && !b->failed; i++) {
        const tg_node *node = g->items[i].node;
        if (!node) continue;
        int dst = tg_dot_graph_end(g, i);
        for (int j = 0; j < node->n_inputs; j++) {
            int src_item = map_get(&b->tensors, (uint64_t)(uintptr_t)node->inputs[j]);
            int src = tg_dot_graph_end(g, src_item);
            g->items[src_item].consumed = true;
            if (src == dst) continue;
            if (dst < 0) {
                uint64_t key = ((uint64_t)(src_item + 1) << 32) | (uint32_t)(-dst);
                if (map_get(&seen, key) >= 0) continue;
                if (!map_put(&seen, key, 0)) b->failed = true;
            }
            tg_dot_edge *edges = grown(g->edges, &g->cap_edges, g->n_edges, sizeof *edges);
            if (edges) g->edges = edges;
            else b->failed = true;
            if (b->failed) break;
            g->edges[g->n_edges++] = (tg_dot_edge){src, dst, src_item, dst >= 0 && node->n_inputs > 1 ? j : -1,
                                                   node->in_backward};
        }
    }
    map_free(&seen);
}

/* Cluster ids from the path; collapsed ids from the path and the members. */
static void scope_ids(builder *b) {
    tg_dot_graph *g = b->g;
    uint64_t *members = calloc((size_t)(g->n_scopes ? g->n_scopes : 1), sizeof *members);
    if (!members) {
        b->failed = true;
        return;
    }
    /* members[k]: the ids of everything a collapsed scope k swallows, chained */
    for (int i = 0; i < g->n_items && g->opts.collapse_scopes; i++) {
        if (g->items[i].scope < 0) continue;
        uint64_t *h = &members[g->scopes[g->items[i].scope].top];
        *h = XXH3_64bits_withSeed(&g->items[i].id, sizeof g->items[i].id, *h);
    }
    for (int k = 0; k < g->n_scopes; k++) {
        const tg_dot_scope *s = &g->scopes[k];
        XXH3_state_t st;
        XXH3_64bits_reset(&st);
        hash_int(&st, g->opts.collapse_scopes ? 'C' : 'S');
        hash_int(&st, s->backward);
        hash_field(&st, s->path, s->path_len);
        hash_int(&st, (int64_t)members[k]);
        g->scopes[k].id = unique_id(b, XXH3_64bits_digest(&st));
    }
    free(members);
}

tg_status tg_dot_graph_build(tg_dot_graph *g, const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts) {
    *g = (tg_dot_graph){.first_top_item = -1, .last_top_item = -1, .first_top_scope = -1, .last_top_scope = -1};
    if (opts) g->opts = *opts;
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_dot_write: tape is NULL");
    const char *why = root ? tg_tape_check_tensor(t, root) : NULL;
    if (why) return tg_set_error(tg_tape_is_stale(t, root) ? TG_ERR_STATE : TG_ERR_ARG, "tg_dot_write: root %s", why);
    if (root && root->node && !on_tape(t, root->node))
        return tg_set_error(TG_ERR_ARG, "tg_dot_write: root was recorded on another tape (or before a reset)");
    bool show_backward = g->opts.show_backward || (root && root->node && root->node->in_backward);
    builder b = {.g = g, .t = t};
    bool *selected = select_nodes(t, root, show_backward);
    if (!selected) return tg_set_error(TG_ERR_NOMEM, "tg_dot_write: out of memory");
    int64_t n = tg_tape_node_count(t);
    if (n > INT32_MAX / 16) b.failed = true;
    for (int64_t i = 0; i < n && !b.failed; i++)
        if (selected[i]) op_item(&b, tg_tape_node(t, i));
    free(selected);
    if (root && !b.failed) {
        int r = leaf_item(&b, root); /* found if root is a drawn result */
        if (r >= 0) g->items[r].is_root = true;
    }
    if (!b.failed) scope_ids(&b);
    if (!b.failed) add_edges(&b);
    for (int i = 0; i < g->n_items && !root && !b.failed; i++)
        if (g->items[i].node && !g->items[i].consumed && !g->items[i].node->in_backward) g->items[i].is_root = true;
    map_free(&b.tensors);
    map_free(&b.scopes);
    map_free(&b.used);
    if (b.failed) {
        tg_dot_graph_free(g);
        return tg_set_error(TG_ERR_NOMEM, "tg_dot_write: out of memory drawing %lld nodes", (long long)n);
    }
    return TG_OK;
}

void tg_dot_graph_free(tg_dot_graph *g) {
    if (!g) return;
    free(g->items);
    free(g->scopes);
    free(g->edges);
    g->items = NULL;
    g->scopes = NULL;
    g->edges = NULL;
    g->n_items = g->n_scopes = g->n_edges = 0;
}
