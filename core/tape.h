/* The tape: an arena for every tensor of one forward/backward step, and the
 * list of operations (nodes) recorded while the forward pass ran.
 *
 *   tg_tape *t = tg_tape_new();
 *   for (step...) { ...forward with tg_* ops...; tg_backward(t, loss, NULL);
 *                   tg_optim_step(opt); tg_tape_reset(t); }   // no malloc after step 1
 *   tg_tape_free(t);
 */
#ifndef TG_CORE_TAPE_H
#define TG_CORE_TAPE_H

#include "core/tensor.h"

/* An operation as the tape and the engine see it. Built-in ops and custom ops
 * alike are one static tg_op each. */
typedef struct tg_op {
    const char *name;
    int arity; /* number of tensor inputs, -1 if variable (concat) */
    /* Backward rule: given dL/d(output) `grad_out`, set grad_in[i] = dL/d(input i)
     * for every input that requires a gradient (leave others NULL). Written with
     * tg_* ops on tape `t`, so the engine can record it (create_graph).
     * Returns NULL-safe status: TG_OK, or the failing op's status. */
    tg_status (*backward)(tg_tape *t, const tg_node *node, tg_tensor *grad_out,
                          tg_tensor **grad_in);
    /* Optional (NULL: nothing to say): writes a short, deterministic text of
     * node's attributes, "axes=0,2 keepdim", "slope=0.1", like snprintf (at
     * most size bytes, terminated; returns the length it needed). Never an
     * address: the DOT exporter shows it under the op name and hashes it into
     * the node's stable id. Ops whose attributes the output shape and dtype
     * already show (reshape, cast) need none. */
    int (*describe)(const tg_node *node, char *buf, size_t size);
} tg_op;

/* One recorded operation. */
struct tg_node {
    const tg_op *op;
    int n_inputs;
    tg_tensor **inputs;
    uint64_t *input_versions; /* versions of inputs when recorded */
    tg_tensor *output;
    uint64_t output_version;  /* output's version when recorded (backward rules may read it) */
    const void *attrs;        /* op attributes (axis, flags...), copied into the arena */
    size_t attrs_size;        /* bytes of attrs (0 if none) */
    const char *scope;        /* "model/layer1" or NULL at top level */
    int64_t index;            /* position on the tape */
    bool in_backward;         /* recorded while a create_graph backward ran */
    bool released;            /* a backward pass without retain_graph went through it */
};

tg_tape *tg_tape_new(void);                 /* NULL if out of memory */
void tg_tape_free(tg_tape *t);              /* NULL is fine */
/* Forgets nodes, tensors, scopes and the error, and switches recording back
 * on; keeps the memory. After the first step of a steady loop the arena is
 * large enough, in one block whose pages are already mapped: from the second
 * step on, no allocation and no page fault. */
void tg_tape_reset(tg_tape *t);

/* ---- recording on/off (no-grad scope) ---- */
bool tg_tape_grad_enabled(const tg_tape *t);
/* Returns the previous setting: bool was = tg_tape_set_grad_enabled(t, false);
 * ...; tg_tape_set_grad_enabled(t, was); */
bool tg_tape_set_grad_enabled(tg_tape *t, bool enabled);

/* ---- named scopes: every node recorded inside is tagged "outer/inner" ---- */
tg_status tg_tape_push_scope(tg_tape *t, const char *name);
tg_status tg_tape_pop_scope(tg_tape *t);
const char *tg_tape_scope(const tg_tape *t); /* current path or NULL */

/* ---- anomaly detection (PyTorch's torch.autograd.detect_anomaly) ----
 * When on, every op's output (tg_tape_record) and every gradient a backward
 * rule gives are checked for NaN and infinity; the first one fails with
 * TG_ERR_CHECK (the op returns NULL, the backward pass stops) and a message
 * naming the op, its scope, its position on the tape, its inputs' shapes,
 * the element, and whether it was the forward or the backward pass:
 *   anomaly in the forward pass: op 'log' in scope 'model' (position 2 on the
 *   tape) produced NaN at element 1 of its output f64[3]; its inputs: f64[3]
 * Off by default, and then costs one branch per op; kept across resets.
 * Returns the previous setting. */
bool tg_tape_set_detect_anomaly(tg_tape *t, bool on);
bool tg_tape_detect_anomaly(const tg_tape *t);

/* ---- the sticky error: the first failure since new/reset ---- */
tg_status tg_tape_status(const tg_tape *t);
const char *tg_tape_error(const tg_tape *t);   /* "" if none */
void tg_tape_clear_error(tg_tape *t);
/* Records a failure on the tape (kept if it is the first) and in
 * tg_last_error(); returns `status`. Ops call it, then return NULL. */
tg_status tg_tape_fail(tg_tape *t, tg_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- nodes ---- */
int64_t tg_tape_node_count(const tg_tape *t);
const tg_node *tg_tape_node(const tg_tape *t, int64_t index);

/* ---- epochs: tensors from before a reset ----
 * Tape tensors live until the next tg_tape_reset (or tg_tape_free); their
 * memory is then reused. Every reset starts a new epoch, recorded in each
 * tensor made on the tape, and every op and the engine refuse a stale tensor
 * (one made before the last reset) with an error. Detection reads the
 * tensor, so it is reliable while its memory is still the tape's; a pointer
 * into memory a reset gave back to the system (the reset after a step that
 * grew the arena) can still crash a Release build. Sanitizer builds poison
 * released arena memory: every stale read is reported there. */
uint64_t tg_tape_epoch(const tg_tape *t); /* the current epoch's tag */
/* NULL if ops on t may use x (made on t since its last reset, or stored in a
 * tg_params store); else why not, as the end of a sentence "input 1 ...":
 * "is NULL", TG_STALE_TENSOR or "belongs to another tape". t not NULL.
 * Functions given a tensor without its tape (tg_get, tg_requires_grad, ...)
 * cannot tell a stale one. */
const char *tg_tape_check_tensor(const tg_tape *t, const tg_tensor *x);
bool tg_tape_is_stale(const tg_tape *t, const tg_tensor *x); /* x made on t before its last reset */
#define TG_STALE_TENSOR                                                                                   \
    "was made before the last tg_tape_reset of its tape (tape tensors live until the next reset; keep " \
    "values that must outlive a step in a tg_params store)"

/* ---- arena ---- */
/* 64-byte aligned, zero-filled is NOT guaranteed; NULL + tape error if the
 * system refuses memory. Lives until reset/free. */
void *tg_tape_alloc(tg_tape *t, size_t bytes);
char *tg_tape_strdup(tg_tape *t, const char *s);
/* A kernel's temporary workspace of at least `bytes` (64-byte aligned), one
 * buffer reused by every call: valid only until the next tg_tape_scratch on
 * this tape. It keeps its size across resets (a steady loop allocates nothing).
 * NULL + tape error if the system refuses memory. */
void *tg_tape_scratch(tg_tape *t, size_t bytes);
size_t tg_tape_arena_capacity(const tg_tape *t); /* bytes reserved from the system (arena + scratch) */
size_t tg_tape_arena_used(const tg_tape *t);     /* bytes handed out since reset and not released */
size_t tg_tape_arena_peak(const tg_tape *t);     /* the most bytes in use at once since reset */
/* Gives back a block tg_tape_alloc returned (`bytes` as asked) that nothing
 * will read again: later allocations of 4 KiB or more reuse it before the
 * arena grows (smaller blocks are not worth keeping and stay where they are).
 * The engine releases gradients a backward pass is done with. */
void tg_tape_release(tg_tape *t, void *block, size_t bytes);
/* A position in the arena: blocks handed out after it was taken (and never
 * released) are "since" it; memory outside the arena never is. */
uint64_t tg_tape_arena_mark(const tg_tape *t);
bool tg_tape_arena_since(const tg_tape *t, uint64_t mark, const void *p);
uint64_t tg_tape_system_allocations(const tg_tape *t); /* malloc calls so far */

/* ---- for operation authors (built-in and custom) ---- */
/* Names the operation now running ("tg_matmul"), so that a failure inside
 * the tape while it runs (a result shape too large, memory refused) names
 * it; tg_tape_record and tensor creation (tg_zeros, ...) clear it. The input
 * checks of built-in and custom ops call it. */
void tg_tape_set_op(tg_tape *t, const char *who);
const char *tg_tape_op(const tg_tape *t); /* NULL when no op is running */
/* A new result tensor on the tape (uninitialised data); errors name the
 * running op. */
tg_tensor *tg_tape_result(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);
/* Records `out = op(inputs...)` with a copy of `attrs` (attrs_size bytes) when
 * recording is on; sets out->requires_grad from the inputs. Returns out, or
 * NULL if out was NULL or memory ran out. */
tg_tensor *tg_tape_record(tg_tape *t, const tg_op *op, int n_inputs, tg_tensor *const *inputs,
                          tg_tensor *out, const void *attrs, size_t attrs_size);

/* A result whose values are not computed yet (->data NULL): a fused pass
 * computes it later (ops/fusion.h). Same errors as tg_tape_result. */
tg_tensor *tg_tape_pending_result(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);

/* ---- fusion scopes (ops/fusion.h opens and closes them) ---- */
int tg_tape_fusion_depth(const tg_tape *t);           /* 0: ops compute their values at once */
void tg_tape_set_fusion_depth(tg_tape *t, int depth);
/* ops/fusion.c's bookkeeping for this step: arena memory, NULL again after reset */
void *tg_tape_fusion_state(const tg_tape *t);
void tg_tape_set_fusion_state(tg_tape *t, void *state);

/* Engine support (graph/ uses these) */
/* Where each leaf (a tensor no recorded op made) was first used on this tape
 * since reset: (index of the first node reading it, leaf), in node order. */
typedef struct tg_leaf_use {
    int64_t index;
    tg_tensor *leaf;
} tg_leaf_use;
int64_t tg_tape_leaf_uses(const tg_tape *t, const tg_leaf_use **uses);
/* Marks node `index` as released by a backward pass (see tg_backward_opts). */
void tg_tape_release_node(tg_tape *t, int64_t index);
bool tg_tape_in_backward(const tg_tape *t);
void tg_tape_set_in_backward(tg_tape *t, bool in_backward);
/* The node whose backward rule now runs (NULL: none), named by anomaly
 * messages about the ops the rule calls. */
void tg_tape_set_backward_node(tg_tape *t, const tg_node *node);
/* "op 'log' in scope 'model' (position 2 on the tape)" into buf: how
 * messages name a node. */
char *tg_node_desc(const tg_node *node, char *buf, size_t size);
/* "f64[3], f64[3]": the shapes of n inputs (the first 4, then "..."; "no inputs"). */
char *tg_inputs_desc(int n, tg_tensor *const *inputs, char *buf, size_t size);

#endif
