/* What a backward pass gives back as it goes (see graph/release.h).
 *
 * Three lists: the tensors given a gradient during the pass ("waiting" until
 * their node has run, or their leaf is flushed), the gradient blocks the
 * pass made ("blocks"), and gradients read at the end of the pass ("held").
 * A look, when the pass has taken enough new memory, marks every block a
 * waiting gradient reads (the block itself, or a leaf of its pending fused
 * expression) and every held one, and releases the others. */
#include "graph/release.h"

#include <string.h>

#include "ops/fusion.h"

enum {
    MIN_BLOCK = 4096,         /* smaller gradients are not worth tracking */
    MIN_GROWTH = 256 << 10    /* new memory between two looks, at least */
};

typedef struct {
    const tg_tensor **items;
    int count, capacity;
} list;

struct tg_release {
    tg_tape *t;
    uint64_t pass;
    uint64_t mark;        /* the arena when the pass began: later blocks are the pass's own */
    uint64_t last_look;   /* the arena at the last look */
    uint64_t growth;      /* new memory between looks */
    uint64_t visit;       /* numbers for tg_fuse_visit_leaves */
    int n_keep;
    tg_tensor *const *keep;
    list waiting, blocks, held;
    bool *live;           /* per block, during a look */
    int live_capacity;
    bool broken;          /* memory ran out for the lists: stop releasing */
};

static bool push(tg_release *r, list *l, const tg_tensor *x) {
    if (l->count == l->capacity) {
        int capacity = l->capacity ? 2 * l->capacity : 64;
        const tg_tensor **grown = tg_tape_alloc(r->t, sizeof *grown * (size_t)capacity);
        if (!grown) return false;
        if (l->count) memcpy(grown, l->items, sizeof *grown * (size_t)l->count);
        if (l->items) tg_tape_release(r->t, l->items, sizeof *grown * (size_t)l->capacity);
        l->items = grown;
        l->capacity = capacity;
    }
    l->items[l->count++] = x;
    return true;
}

static size_t bytes_of(const tg_tensor *g) { return (size_t)g->numel * tg_dtype_size(g->dtype); }

/* a computed gradient in a block of this pass's own, large enough to matter */
static bool own_block(const tg_release *r, const tg_tensor *g) {
    return g && g->data && bytes_of(g) >= MIN_BLOCK && tg_tape_arena_since(r->t, r->mark, g->data);
}

static bool listed(const list *l, const tg_tensor *g) {
    for (int i = 0; i < l->count; i++)
        if (l->items[i]->data == g->data) return true;
    return false;
}

tg_release *tg_release_begin(tg_tape *t, uint64_t pass, int n_keep, tg_tensor *const *keep) {
    tg_release *r = tg_tape_alloc(t, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->t = t;
    r->pass = pass;
    r->mark = r->last_look = tg_tape_arena_mark(t);
    r->growth = tg_tape_arena_used(t) / 8 > MIN_GROWTH ? tg_tape_arena_used(t) / 8 : MIN_GROWTH;
    r->n_keep = n_keep;
    r->keep = keep;
    return r;
}

void tg_release_gathered(tg_release *r, tg_tensor *x, const tg_tensor *g, bool first) {
    if (!r || r->broken) return;
    if (first && !push(r, &r->waiting, x)) r->broken = true;
    if (own_block(r, g) && !listed(&r->blocks, g) && !push(r, &r->blocks, g)) r->broken = true;
}

void tg_release_consumed(tg_release *r, const tg_tensor *g) {
    if (r && !r->broken && own_block(r, g) && !listed(&r->blocks, g) && !push(r, &r->blocks, g)) r->broken = true;
}

void tg_release_hold(tg_release *r, const tg_tensor *g) {
    if (r && !r->broken && own_block(r, g) && !push(r, &r->held, g)) r->broken = true;
}

/* marks the blocks among r->blocks that y (a computed tensor) is */
static void mark_block(void *context, const tg_tensor *y) {
    tg_release *r = context;
    for (int j = 0; j < r->blocks.count; j++)
        if (r->blocks.items[j]->data == y->data) r->live[j] = true;
}

static bool kept(const tg_release *r, const tg_tensor *x) {
    for (int k = 0; k < r->n_keep; k++)
        if (r->keep[k] == x) return true;
    return false;
}

void tg_release_collect(tg_release *r, int64_t next) {
    if (!r || r->broken) return;
    uint64_t now = tg_tape_arena_mark(r->t);
    if (now - r->last_look < r->growth || r->blocks.count == 0) return;
    r->last_look = now;
    /* gradients whose node has run, or whose leaf is flushed, are done: their
     * blocks become candidates; the others are still needed */
    int waiting = 0;
    for (int i = 0; i < r->waiting.count; i++) {
        tg_tensor *x = (tg_tensor *)r->waiting.items[i];
        bool done = x->pending_pass != r->pass || (x->node && x->node->index >= next) || !x->pending_grad;
        if (x->pending_grad && own_block(r, x->pending_grad) && !listed(&r->blocks, x->pending_grad) &&
            !push(r, &r->blocks, x->pending_grad)) {
            r->broken = true;
            return;
        }
        if (!done || kept(r, x)) r->waiting.items[waiting++] = x;
    }
    r->waiting.count = waiting;
    if (r->live_capacity < r->blocks.count) {
        r->live = tg_tape_alloc(r->t, sizeof(bool) * (size_t)r->blocks.capacity);
        if (!r->live) {
            r->broken = true;
            return;
        }
        r->live_capacity = r->blocks.capacity;
    }
    memset(r->live, 0, sizeof(bool) * (size_t)r->blocks.count);
    r->visit++;
    for (int i = 0; i < r->waiting.count; i++)
        if (r->waiting.items[i]->pending_grad)
            tg_fuse_visit_leaves(r->waiting.items[i]->pending_grad, r->visit, mark_block, r);
    for (int i = 0; i < r->held.count; i++) mark_block(r, r->held.items[i]);
    /* the rest goes back to the arena, each block once (entries for one
     * block, a gradient and its views, are marked alike) */
    for (int j = 0; j < r->blocks.count; j++) {
        const tg_tensor *g = r->blocks.items[j];
        bool earlier = false;
        for (int k = 0; k < j && !earlier; k++) earlier = r->blocks.items[k]->data == g->data;
        if (!r->live[j] && !earlier) tg_tape_release(r->t, g->data, bytes_of(g));
    }
    int blocks = 0;
    for (int j = 0; j < r->blocks.count; j++)
        if (r->live[j]) r->blocks.items[blocks++] = r->blocks.items[j];
    r->blocks.count = blocks;
}
