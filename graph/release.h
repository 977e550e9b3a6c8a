/* What a backward pass gives back as it goes (private to graph/backward.c).
 *
 * A gradient block the pass made (arena memory taken after the pass began)
 * is released once nothing that the rest of the pass reads refers to it: no
 * gradient still waiting for its node (or leaf), directly or through the
 * pending expression of a fused value. Later allocations of the pass reuse
 * the memory, so its peak stays near the forward pass's memory plus the
 * gradients of one layer. A pass that records itself (create_graph) or keeps
 * its graph (retain_graph, which also keeps the intermediates' gradients for
 * tg_dot's show_grads) releases nothing. */
#ifndef TG_GRAPH_RELEASE_H
#define TG_GRAPH_RELEASE_H

#include <stdbool.h>

#include "core/tape.h"

typedef struct tg_release tg_release;

/* Starts tracking on t for the pass `pass`; gradients of keep[0..n_keep)
 * (tg_grad's inputs) are never released. NULL when nothing will be released
 * (or memory ran out: releasing is an optimisation). */
tg_release *tg_release_begin(tg_tape *t, uint64_t pass, int n_keep, tg_tensor *const *keep);
/* x received gradient g: its first in the pass, or a sum replacing the one before. */
void tg_release_gathered(tg_release *r, tg_tensor *x, const tg_tensor *g, bool first);
/* A gradient consumed by its node's backward rule: its block may go. */
void tg_release_consumed(tg_release *r, const tg_tensor *g);
/* g (a computed gradient) is read when the pass ends: never released. */
void tg_release_hold(tg_release *r, const tg_tensor *g);
/* Every node at index >= next has run its backward rule, and every leaf
 * flushed so far has its gradient in ->grad: gives back what nobody needs,
 * when the pass has taken enough new memory since the last look. */
void tg_release_collect(tg_release *r, int64_t next);

#endif
