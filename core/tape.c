#include "core/tape.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pages.h"
#include "core/parallel.h"

/* In AddressSanitizer builds the arena is poisoned except for what
 * tg_tape_alloc handed out since the last reset: reading a tensor from
 * before a reset, or past the end of an allocation, is reported. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ASAN 1
#endif
#endif
#ifdef TG_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define IS_POISONED(p, n) (__asan_region_is_poisoned((void *)(p), (n)) != NULL)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define IS_POISONED(p, n) ((void)(p), (void)(n), false)
#endif

enum {
    TG_ALIGN = 64,
    TG_REUSE_MIN = 4096,       /* released blocks smaller than this are not worth keeping */
    TG_FIRST_CHUNK = 1 << 20,  /* 1 MiB; doubles as needed */
    TG_TAPE_ERROR_MAX = 1024,
    TG_SCOPE_PATH_MAX = 512
};

/* The arena is a list of chunks. When a step outgrows it, a new chunk (at
 * least double the last) is added; reset merges all chunks into one of their
 * total size, so the next identical step fits without touching the system.
 *
 * Every reset starts a new epoch: a tag unique over all tapes and resets,
 * stored in each tensor made on the tape. A tensor in the arena whose tag is
 * not the current one is stale (made before the reset; its memory is being
 * reused). Odd epochs start the arena TG_ALIGN bytes further in, so that in a
 * steady loop a stale tensor does not sit exactly where a new one of the next
 * step does (it would read as that new, current tensor). */
typedef struct tg_chunk {
    struct tg_chunk *next;
    size_t size;
    size_t used;
    size_t position;     /* where it starts in the arena's order: the sizes of the older chunks */
    unsigned char *base; /* 64-byte aligned */
} tg_chunk;

/* A block given back with tg_tape_release, reused before the chunks grow;
 * the list lives in the blocks themselves. */
typedef struct tg_free_block {
    struct tg_free_block *next;
    size_t size;
} tg_free_block;

struct tg_tape {
    tg_chunk *chunks;          /* newest first */
    uint64_t epoch;            /* tag of the current epoch (never 0) */
    uint64_t resets;
    size_t capacity;
    size_t in_use, peak;       /* bytes handed out and not released; the most at once */
    tg_free_block *free_blocks;
    uint64_t system_allocations;

    void *scratch;             /* tg_tape_scratch's buffer, kept across resets */
    size_t scratch_size;

    tg_node **nodes;           /* persistent array, capacity kept across resets */
    int64_t n_nodes, cap_nodes;
    /* the leaves' first uses, and the set of leaves listed (open addressing,
     * a power of two): arena memory, forgotten by reset */
    tg_leaf_use *leaf_uses;
    int64_t n_leaf_uses, cap_leaf_uses;
    tg_tensor **leaf_set;
    int64_t leaf_set_size;

    bool grad_enabled;
    bool in_backward;
    int fusion_depth;          /* open fusion scopes (ops/fusion.h) */
    void *fusion_state;        /* ops/fusion.c's, in the arena */

    char scope_path[TG_SCOPE_PATH_MAX]; /* "a/b/c" */
    size_t scope_len[32];      /* path length before each push */
    int scope_depth;
    const char *scope_interned; /* arena copy of scope_path, NULL at top level */

    const char *op;            /* the op now running (tg_tape_set_op), for messages */
    bool detect_anomaly;       /* check outputs for NaN/Inf (kept across resets) */
    const tg_node *backward_node; /* whose backward rule runs (anomaly messages) */

    tg_status status;
    char error[TG_TAPE_ERROR_MAX];
};

static tg_chunk *chunk_new(tg_tape *t, size_t size) {
    tg_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->base = tg_alloc_large(TG_ALIGN, size);
    if (!c->base) {
        free(c);
        return NULL;
    }
    POISON(c->base, size);
    c->size = size;
    c->used = 0;
    c->next = NULL;
    c->position = t->chunks ? t->chunks->position + t->chunks->size : 0;
    t->capacity += size;
    t->system_allocations++;
    return c;
}

static void chunk_free(tg_chunk *c) {
    UNPOISON(c->base, c->size);
    free(c->base);
    free(c);
}

/* Writes a byte in every page of a new chunk, so that it is mapped now. The
 * chunk is poisoned until handed out: the writes go around the sanitizer
 * (unpoisoning and poisoning it again would make the sanitizer give its
 * shadow pages back, to be faulted in again by the next step). */
#ifdef TG_ASAN
__attribute__((no_sanitize_address))
#endif
static void touch_pages(unsigned char *base, size_t size) {
    for (size_t page = 0; page < size; page += 4096) ((volatile unsigned char *)base)[page] = 0;
}

/* A fresh, non-zero tag for every tape and every reset (splitmix64 of a
 * global counter): never TG_EPOCH_STORED. */
static uint64_t new_epoch(void) {
    static _Atomic uint64_t counter;
    uint64_t z = atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z == 0 || z == TG_EPOCH_STORED ? 1 : z;
}

tg_tape *tg_tape_new(void) {
    tg_tape *t = calloc(1, sizeof *t);
    if (!t) {
        tg_set_error(TG_ERR_NOMEM, "tg_tape_new: out of memory");
        return NULL;
    }
    t->grad_enabled = true;
    t->epoch = new_epoch();
    t->chunks = chunk_new(t, TG_FIRST_CHUNK);
    if (!t->chunks) {
        free(t);
        tg_set_error(TG_ERR_NOMEM, "tg_tape_new: out of memory");
        return NULL;
    }
    return t;
}

void tg_tape_free(tg_tape *t) {
    if (!t) return;
    for (tg_chunk *c = t->chunks; c;) {
        tg_chunk *next = c->next;
        chunk_free(c);
        c = next;
    }
    free(t->nodes);
    free(t->scratch);
    free(t);
}

void tg_tape_reset(tg_tape *t) {
    if (!t) return;
    if (t->chunks && t->chunks->next) {
        /* merge: one chunk as large as everything the last step needed */
        size_t total = 0;
        for (tg_chunk *c = t->chunks; c;) {
            tg_chunk *next = c->next;
            total += c->size;
            chunk_free(c);
            c = next;
        }
        t->capacity = t->scratch_size; /* the chunks are counted again below */
        t->chunks = NULL;
        t->chunks = chunk_new(t, total);
        /* if the merged chunk is refused, start small again; alloc reports later */
        if (!t->chunks) t->chunks = chunk_new(t, TG_FIRST_CHUNK);
        /* touch every page now, so the next step (as large as this one) takes
         * no page fault either: a steady loop is quiet from its second step */
        if (t->chunks) touch_pages(t->chunks->base, t->chunks->size);
    }
    tg_parallel_step_ended(tg_parallel_now()); /* threads chosen by timing steps */
    t->epoch = new_epoch();
    t->resets++;
    if (t->chunks) {
        tg_chunk *c = t->chunks;
        POISON(c->base, c->used);
        c->used = (t->resets & 1) && c->size > TG_ALIGN ? TG_ALIGN : 0;
    }
    t->in_use = t->peak = 0;
    t->free_blocks = NULL;
    t->leaf_uses = NULL;
    t->n_leaf_uses = t->cap_leaf_uses = 0;
    t->leaf_set = NULL;
    t->leaf_set_size = 0;
    t->n_nodes = 0;
    t->in_backward = false;
    t->backward_node = NULL;
    t->grad_enabled = true;
    t->fusion_depth = 0;
    t->fusion_state = NULL;
    t->scope_depth = 0;
    t->scope_path[0] = '\0';
    t->scope_interned = NULL;
    t->status = TG_OK;
    t->error[0] = '\0';
}

/* No single request can be this large (a tensor's bytes fit in int64), so
 * rounding up and doubling below never wrap. */
#define TG_MAX_REQUEST ((size_t)INT64_MAX / 4)

static tg_status too_large(tg_tape *t, const char *who, size_t bytes) {
    return tg_tape_fail(t, TG_ERR_NOMEM, "%s: %zu bytes asked for, more than any request can be (%zu)%s%s", who,
                        bytes, TG_MAX_REQUEST, t->op ? " in " : "", t->op ? t->op : "");
}

#define ROUND16(bytes) (((bytes) + 15) & ~(size_t)15)

static void count_in_use(tg_tape *t, size_t bytes) {
    t->in_use += bytes;
    if (t->in_use > t->peak) t->peak = t->in_use;
}

void *tg_tape_alloc(tg_tape *t, size_t bytes) {
    if (!t) return NULL;
    if (bytes > TG_MAX_REQUEST) {
        too_large(t, "tg_tape_alloc", bytes);
        return NULL;
    }
    size_t need = (bytes + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1);
    if (need == 0) need = TG_ALIGN;
    /* a released block first (the first that fits, split if larger); small
     * allocations (headers, nodes) stay on the bump pointer */
    for (tg_free_block **link = need >= TG_REUSE_MIN ? &t->free_blocks : NULL; link && *link; link = &(*link)->next) {
        tg_free_block *b = *link;
        if (b->size < need) continue;
        if (b->size - need >= TG_ALIGN) {
            tg_free_block *rest = (tg_free_block *)((unsigned char *)b + need);
            UNPOISON(rest, sizeof *rest);
            *rest = (tg_free_block){b->next, b->size - need};
            *link = rest;
        } else {
            need = b->size;
            *link = b->next;
        }
        UNPOISON(b, need);
        count_in_use(t, need);
        return b;
    }
    tg_chunk *c = t->chunks;
    if (!c || c->size - c->used < need) {
        size_t size = c && c->size <= TG_MAX_REQUEST ? c->size * 2 : TG_FIRST_CHUNK;
        while (size < need) size *= 2;
        tg_chunk *fresh = chunk_new(t, size);
        if (!fresh) {
            tg_tape_fail(t, TG_ERR_NOMEM, "%s: out of memory asking for %zu bytes", t->op ? t->op : "tg_tape_alloc",
                         bytes);
            return NULL;
        }
        fresh->next = c;
        t->chunks = c = fresh;
    }
    void *p = c->base + c->used;
    UNPOISON(p, bytes);
    c->used += need;
    count_in_use(t, need);
    return p;
}

void tg_tape_release(tg_tape *t, void *block, size_t bytes) {
    size_t size = (bytes + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1);
    if (!t || !block || size < TG_REUSE_MIN) return;
    tg_free_block *b = block;
    *b = (tg_free_block){t->free_blocks, size};
    POISON((unsigned char *)b + sizeof *b, size - sizeof *b);
    t->free_blocks = b;
    t->in_use -= size;
}

uint64_t tg_tape_arena_mark(const tg_tape *t) {
    return t && t->chunks ? t->chunks->position + t->chunks->used : 0;
}

bool tg_tape_arena_since(const tg_tape *t, uint64_t mark, const void *p) {
    const unsigned char *q = p;
    for (const tg_chunk *c = t ? t->chunks : NULL; c; c = c->next)
        if (q >= c->base && q < c->base + c->size) return c->position + (size_t)(q - c->base) >= mark;
    return false; /* not arena memory: a parameter's, or the caller's (tg_tensor_wrap) */
}

char *tg_tape_strdup(tg_tape *t, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *copy = tg_tape_alloc(t, n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

void *tg_tape_scratch(tg_tape *t, size_t bytes) {
    if (!t) return NULL;
    if (bytes == 0) bytes = 1; /* a valid pointer even for empty work */
    if (bytes > TG_MAX_REQUEST) {
        too_large(t, "tg_tape_scratch", bytes);
        return NULL;
    }
    if (bytes > t->scratch_size) {
        size_t size = (bytes + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1);
        void *fresh = tg_alloc_large(TG_ALIGN, size);
        if (!fresh) {
            tg_tape_fail(t, TG_ERR_NOMEM, "%s: out of memory asking for %zu bytes of scratch",
                         t->op ? t->op : "tg_tape_scratch", bytes);
            return NULL;
        }
        /* touched now: parts that only some threads use (per-thread
         * workspaces) must not fault in the first step that reaches them */
        memset(fresh, 0, size);
        free(t->scratch);
        t->capacity += size - t->scratch_size;
        t->scratch = fresh;
        t->scratch_size = size;
        t->system_allocations++;
    }
    return t->scratch;
}

uint64_t tg_tape_epoch(const tg_tape *t) { return t ? t->epoch : 0; }

static const char stale[] = TG_STALE_TENSOR;

/* x lies in one of t's chunks: made on t (a tensor of another tape, or a
 * stored one, never does) */
static bool in_arena(const tg_tape *t, const void *x) {
    for (const tg_chunk *c = t->chunks; c; c = c->next)
        if ((uintptr_t)x >= (uintptr_t)c->base && (uintptr_t)x < (uintptr_t)c->base + c->size) return true;
    return false;
}

const char *tg_tape_check_tensor(const tg_tape *t, const tg_tensor *x) {
    if (!x) return "is NULL";
    if (IS_POISONED(x, sizeof *x)) return stale; /* released arena memory (sanitizer builds) */
    uint64_t epoch = x->epoch;
    /* stored tensors are never in an arena (and a tensor made in one never
     * carries TG_EPOCH_STORED), so they need no address test */
    if (epoch == t->epoch || epoch == TG_EPOCH_STORED) return NULL;
    if (in_arena(t, x)) return stale; /* an older epoch, or whatever now occupies its memory */
    return "belongs to another tape";
}

bool tg_tape_is_stale(const tg_tape *t, const tg_tensor *x) {
    return t && x && tg_tape_check_tensor(t, x) == stale;
}

size_t tg_tape_arena_capacity(const tg_tape *t) { return t ? t->capacity : 0; }
size_t tg_tape_arena_used(const tg_tape *t) { return t ? t->in_use : 0; }
size_t tg_tape_arena_peak(const tg_tape *t) { return t ? t->peak : 0; }
uint64_t tg_tape_system_allocations(const tg_tape *t) { return t ? t->system_allocations : 0; }

bool tg_tape_grad_enabled(const tg_tape *t) { return t && t->grad_enabled; }

bool tg_tape_set_grad_enabled(tg_tape *t, bool enabled) {
    if (!t) return false;
    bool was = t->grad_enabled;
    t->grad_enabled = enabled;
    return was;
}

tg_status tg_tape_push_scope(tg_tape *t, const char *name) {
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_tape_push_scope: tape is NULL");
    if (!name || !*name)
        return tg_tape_fail(t, TG_ERR_ARG, "tg_tape_push_scope: scope name is NULL or empty");
    int max_depth = (int)(sizeof t->scope_len / sizeof t->scope_len[0]);
    size_t len = strlen(t->scope_path);
    size_t add = strlen(name) + (len ? 1 : 0);
    if (t->scope_depth >= max_depth || len + add + 1 > sizeof t->scope_path)
        return tg_tape_fail(t, TG_ERR_ARG,
                            "tg_tape_push_scope: scope \"%s\" nests too deep (at most %d levels, %d characters)",
                            name, max_depth, (int)sizeof t->scope_path - 1);
    char *copy_target = t->scope_path + len;
    if (len) *copy_target++ = '/';
    memcpy(copy_target, name, strlen(name) + 1);
    const char *interned = tg_tape_strdup(t, t->scope_path);
    if (!interned) {
        t->scope_path[len] = '\0';
        return TG_ERR_NOMEM;
    }
    t->scope_len[t->scope_depth++] = len;
    t->scope_interned = interned;
    return TG_OK;
}

tg_status tg_tape_pop_scope(tg_tape *t) {
    if (!t) return tg_set_error(TG_ERR_ARG, "tg_tape_pop_scope: tape is NULL");
    if (t->scope_depth == 0)
        return tg_tape_fail(t, TG_ERR_STATE, "tg_tape_pop_scope: no scope is open");
    size_t len = t->scope_len[--t->scope_depth];
    t->scope_path[len] = '\0';
    if (t->scope_depth == 0) {
        t->scope_interned = NULL;
    } else {
        /* the parent's interned copy is a prefix we can make again cheaply */
        t->scope_interned = tg_tape_strdup(t, t->scope_path);
    }
    return TG_OK;
}

const char *tg_tape_scope(const tg_tape *t) { return t ? t->scope_interned : NULL; }

tg_status tg_tape_status(const tg_tape *t) { return t ? t->status : TG_ERR_ARG; }
const char *tg_tape_error(const tg_tape *t) { return t ? t->error : "tape is NULL"; }

void tg_tape_clear_error(tg_tape *t) {
    if (!t) return;
    t->status = TG_OK;
    t->error[0] = '\0';
}

tg_status tg_tape_fail(tg_tape *t, tg_status status, const char *fmt, ...) {
    /* format into a local buffer first: callers pass tg_last_error() as an
     * argument, and formatting it into itself would lose the message */
    char message[TG_TAPE_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    tg_set_error(status, "%s", message);
    if (t && t->status == TG_OK) {
        t->status = status;
        snprintf(t->error, sizeof t->error, "%s", message);
    }
    return status;
}

int64_t tg_tape_node_count(const tg_tape *t) { return t ? t->n_nodes : 0; }

const tg_node *tg_tape_node(const tg_tape *t, int64_t index) {
    if (!t || index < 0 || index >= t->n_nodes) return NULL;
    return t->nodes[index];
}

void tg_tape_set_op(tg_tape *t, const char *who) {
    if (t) t->op = who;
}
const char *tg_tape_op(const tg_tape *t) { return t ? t->op : NULL; }

bool tg_tape_set_detect_anomaly(tg_tape *t, bool on) {
    if (!t) return false;
    bool was = t->detect_anomaly;
    t->detect_anomaly = on;
    return was;
}
bool tg_tape_detect_anomaly(const tg_tape *t) { return t && t->detect_anomaly; }
void tg_tape_set_backward_node(tg_tape *t, const tg_node *node) {
    if (t) t->backward_node = node;
}

char *tg_node_desc(const tg_node *node, char *buf, size_t size) {
    char scope[600] = "";
    if (node->scope) snprintf(scope, sizeof scope, " in scope '%s'", node->scope);
    snprintf(buf, size, "op '%s'%s (position %lld on the tape)", node->op->name, scope, (long long)node->index);
    return buf;
}

char *tg_inputs_desc(int n, tg_tensor *const *inputs, char *buf, size_t size) {
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && i < 4 && pos < size; i++) {
        char desc[200];
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", i ? ", " : "", tg_tensor_desc(inputs[i], desc, sizeof desc));
    }
    if (n > 4 && pos < size) snprintf(buf + pos, size - pos, ", ...");
    if (n == 0) snprintf(buf, size, "no inputs");
    return buf;
}

/* Anomaly mode found a NaN or an infinity at element i of op's output. */
static tg_status forward_anomaly(tg_tape *t, const tg_op *op, int n_inputs, tg_tensor *const *inputs,
                                 const tg_tensor *out, int64_t i) {
    char context[900] = "the forward pass", scope[600] = "", ins[400], desc[200];
    if (t->backward_node) {
        char node[800];
        snprintf(context, sizeof context, "the backward pass of %s, whose backward rule ran",
                 tg_node_desc(t->backward_node, node, sizeof node));
    } else if (t->in_backward) {
        snprintf(context, sizeof context, "the backward pass");
    }
    if (t->scope_interned) snprintf(scope, sizeof scope, " in scope '%s'", t->scope_interned);
    double v = out->dtype == TG_F32 ? ((const float *)out->data)[i] : ((const double *)out->data)[i];
    return tg_tape_fail(t, TG_ERR_CHECK,
                        "anomaly in %s: op '%s'%s (position %lld on the tape) produced %s at element %lld of its "
                        "output %s; its inputs: %s",
                        context, op->name, scope, (long long)t->n_nodes, isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf",
                        (long long)i, tg_tensor_desc(out, desc, sizeof desc),
                        tg_inputs_desc(n_inputs, inputs, ins, sizeof ins));
}

tg_tensor *tg_tape_pending_result(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape) {
    tg_tensor *x = tg_tape_alloc(t, sizeof *x);
    if (!x) return NULL;
    *x = (tg_tensor){.dtype = dtype, .ndim = ndim, .numel = tg_shape_numel(ndim, shape), .tape = t,
                     .epoch = t->epoch, .kind = TG_KIND_RESULT};
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    return x;
}

int tg_tape_fusion_depth(const tg_tape *t) { return t ? t->fusion_depth : 0; }
void tg_tape_set_fusion_depth(tg_tape *t, int depth) {
    if (t) t->fusion_depth = depth;
}
void *tg_tape_fusion_state(const tg_tape *t) { return t ? t->fusion_state : NULL; }
void tg_tape_set_fusion_state(tg_tape *t, void *state) {
    if (t) t->fusion_state = state;
}

static int64_t leaf_slot(tg_tensor *const *set, int64_t size, const tg_tensor *x) {
    uint64_t h = ((uint64_t)(uintptr_t)x >> 4) * 0x9E3779B97F4A7C15ull;
    int64_t i = (int64_t)(h >> 32) & (size - 1);
    while (set[i] && set[i] != x) i = (i + 1) & (size - 1);
    return i;
}

/* Lists x's first use (node `index`) unless it is listed already. */
static bool note_leaf(tg_tape *t, int64_t index, tg_tensor *x) {
    if (t->leaf_set_size == 0 || 2 * (t->n_leaf_uses + 1) > t->leaf_set_size) { /* grow the set */
        int64_t size = t->leaf_set_size ? 2 * t->leaf_set_size : 64;
        tg_tensor **set = tg_tape_alloc(t, sizeof *set * (size_t)size);
        if (!set) return false;
        memset(set, 0, sizeof *set * (size_t)size);
        for (int64_t k = 0; k < t->n_leaf_uses; k++) set[leaf_slot(set, size, t->leaf_uses[k].leaf)] = t->leaf_uses[k].leaf;
        t->leaf_set = set;
        t->leaf_set_size = size;
    }
    int64_t slot = leaf_slot(t->leaf_set, t->leaf_set_size, x);
    if (t->leaf_set[slot]) return true;
    if (t->n_leaf_uses == t->cap_leaf_uses) {
        int64_t cap = t->cap_leaf_uses ? 2 * t->cap_leaf_uses : 32;
        tg_leaf_use *grown = tg_tape_alloc(t, sizeof *grown * (size_t)cap);
        if (!grown) return false;
        if (t->n_leaf_uses) memcpy(grown, t->leaf_uses, sizeof *grown * (size_t)t->n_leaf_uses);
        t->leaf_uses = grown;
        t->cap_leaf_uses = cap;
    }
    t->leaf_set[slot] = x;
    t->leaf_uses[t->n_leaf_uses++] = (tg_leaf_use){index, x};
    return true;
}

int64_t tg_tape_leaf_uses(const tg_tape *t, const tg_leaf_use **uses) {
    *uses = t ? t->leaf_uses : NULL;
    return t ? t->n_leaf_uses : 0;
}

tg_tensor *tg_tape_record(tg_tape *t, const tg_op *op, int n_inputs, tg_tensor *const *inputs,
                          tg_tensor *out, const void *attrs, size_t attrs_size) {
    if (!t || !out) return NULL;
    t->op = NULL;
    if (__builtin_expect(t->detect_anomaly, 0)) { /* off: this one branch is the whole cost */
        int64_t bad = tg_tensor_first_nonfinite(out);
        if (bad >= 0) {
            forward_anomaly(t, op, n_inputs, inputs, out, bad);
            return NULL;
        }
    }
    out->kind = TG_KIND_RESULT;
    out->requires_grad = false;
    if (!t->grad_enabled) return out;
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i]->requires_grad) out->requires_grad = true;

    if (t->n_nodes == t->cap_nodes) {
        int64_t cap = t->cap_nodes ? t->cap_nodes * 2 : 1024;
        tg_node **grown = realloc(t->nodes, (size_t)cap * sizeof *grown);
        if (!grown) {
            tg_tape_fail(t, TG_ERR_NOMEM, "%s: out of memory recording the node", op->name);
            return NULL;
        }
        t->nodes = grown;
        t->cap_nodes = cap;
        t->system_allocations++;
    }
    /* the node, its inputs, their versions and the attributes: one block */
    size_t n = (size_t)(n_inputs ? n_inputs : 1);
    size_t node_bytes = ROUND16(sizeof(tg_node)), inputs_bytes = ROUND16(sizeof(tg_tensor *) * n);
    size_t versions_bytes = ROUND16(sizeof(uint64_t) * n);
    unsigned char *block = tg_tape_alloc(t, node_bytes + inputs_bytes + versions_bytes + ROUND16(attrs_size));
    if (!block) return NULL;
    tg_node *node = (tg_node *)block;
    tg_tensor **ins = (tg_tensor **)(block + node_bytes);
    uint64_t *versions = (uint64_t *)(block + node_bytes + inputs_bytes);
    void *attr_copy = attrs_size ? block + node_bytes + inputs_bytes + versions_bytes : NULL;
    for (int i = 0; i < n_inputs; i++) {
        ins[i] = inputs[i];
        versions[i] = inputs[i]->version;
        if (!inputs[i]->node && !note_leaf(t, t->n_nodes, inputs[i])) return NULL;
    }
    if (attrs_size) memcpy(attr_copy, attrs, attrs_size);
    *node = (tg_node){.op = op,
                      .n_inputs = n_inputs,
                      .inputs = ins,
                      .input_versions = versions,
                      .output = out,
                      .output_version = out->version,
                      .attrs = attr_copy,
                      .attrs_size = attrs_size,
                      .scope = t->scope_interned,
                      .index = t->n_nodes,
                      .in_backward = t->in_backward};
    t->nodes[t->n_nodes++] = node;
    out->node = node;
    return out;
}

void tg_tape_release_node(tg_tape *t, int64_t index) {
    if (t && index >= 0 && index < t->n_nodes) t->nodes[index]->released = true;
}
bool tg_tape_in_backward(const tg_tape *t) { return t && t->in_backward; }
void tg_tape_set_in_backward(tg_tape *t, bool in_backward) {
    if (t) t->in_backward = in_backward;
}
