/* Dropout, PyTorch's inverted form (torch.nn.functional.dropout). */
#ifndef TG_OPS_DROPOUT_H
#define TG_OPS_DROPOUT_H

#include "core/rng.h"
#include "core/tape.h"

/* Training: y = x / (1 - p) where an element is kept (probability 1 - p), 0
 * elsewhere; 0 <= p < 1. Evaluation (training false), or p = 0: y is x itself.
 * The mask is reproducible: each training call draws one 64-bit key from rng
 * (same seed, same masks, for any thread count), and element i is kept when a
 * hash of (key, i) is at least p 2^64. Backward recomputes the mask from the
 * key: nothing per element is stored. rng may be NULL when not training. */
tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, bool training, tg_rng *rng);

#endif
