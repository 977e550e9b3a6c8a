/* Seeing a graph: the operations recorded on a tape as Graphviz DOT, or
 * rendered straight to svg / png / pdf.
 *
 *   tg_backward(t, loss, &(tg_backward_opts){.retain_graph = true}); // keeps every gradient
 *   tg_dot_render(t, loss, "model.svg", &(tg_dot_opts){.show_grads = true});
 *
 * What is drawn (root given: the nodes that reach it; root NULL: the tape):
 *   inputs (tg_requires_grad)  blue ellipse      parameters  green rounded box, named
 *   buffers                    yellow dashed box  constants   grey note
 *   op results                 white box: op name, attributes ("axis=1", "slope=0.1":
 *                              the op's describe hook, cut at 48 bytes), dtype[shape]
 *   the root                   red double box (root NULL: every unconsumed result)
 *   backward ops (create_graph, show_backward)    pink dashed boxes in a "backward" cluster
 * Edges into an op of several inputs are labelled by input slot (0, 1, ...).
 * Scopes ("layer1/linear") are nested clusters; collapse_scopes draws each
 * outermost scope as one 3-D box instead.
 *
 * Gradients (show_grads), after a backward pass: parameters and inputs show
 * the L2 norm of ->grad; every edge leaving a tensor x is coloured and
 * widened by |dL/dx|, on a log scale from blue (<= 1e-6, vanishing) through
 * green (1e-2) to red (>= 1e+2, exploding); a zero gradient is grey.
 * dL/dx is ->grad for leaves and for results kept with tg_requires_grad,
 * otherwise the gradient the latest backward pass gathered on the result: a
 * pass with retain_graph or create_graph keeps those until tg_tape_reset; a
 * pass without gives their memory back as it goes (graph/backward.h), so run
 * it with retain_graph to see them. Edges from tensors without a gradient
 * keep the default colour.
 *
 * Stable output: node ids are XXH3 hashes of the structure (op name, the
 * text of its attributes, input ids, dtype, shape, scope, name), never
 * addresses, so two exports of the same model are byte-identical, across runs
 * too, and differ only where the model differs: a slope, a slice range, an
 * axis or gather's labels change the op's id (and those of the ops after it).
 * The attributes are hashed as their describe text, never as bytes (ops keep
 * arena pointers there, and struct padding is unset); an op without a hook
 * (a custom op) hashes only their size. Equal hashes (two constants of one
 * shape) are told apart by tape order.
 *
 * Escaping: every name and label is written so that any DOT parser accepts
 * it and Graphviz shows it as given: quotes and backslashes escaped, newlines
 * as \n, other control characters shown as \xHH, valid UTF-8 kept, invalid
 * bytes replaced by U+FFFD. Labels are plain strings (no record or HTML
 * shapes), so braces and angle brackets need nothing.
 */
#ifndef TG_GRAPH_DOT_H
#define TG_GRAPH_DOT_H

#include <stdbool.h>
#include <stdio.h>

#include "core/tape.h"

typedef enum tg_dot_direction {
    TG_DOT_TB = 0, /* top to bottom (default) */
    TG_DOT_LR      /* left to right */
} tg_dot_direction;

/* All fields zero (or opts NULL) give the defaults. */
typedef struct tg_dot_opts {
    tg_dot_direction direction;
    bool collapse_scopes; /* each outermost scope drawn as one node */
    bool show_grads;      /* gradient norms: labels, edge colour and width */
    bool show_backward;   /* also draw nodes recorded by a create_graph backward */
    const char *title;    /* shown above the graph; NULL for none */
} tg_dot_opts;

/* Writes the graph as DOT text to out. Errors (TG_ERR_ARG: NULL tape or out,
 * a root of another tape; TG_ERR_NOMEM; TG_ERR_IO: the write failed) come
 * back as the status with tg_last_error(). The tape is only read. */
tg_status tg_dot_write(const tg_tape *t, const tg_tensor *root, FILE *out, const tg_dot_opts *opts);

/* Writes path in the format its extension names: .dot/.gv (DOT text), .svg,
 * .png or .pdf (laid out and rendered by the Graphviz C library, "dot"
 * layout). Errors: TG_ERR_ARG for an unknown extension, TG_ERR_IO for a path
 * that cannot be written, TG_ERR_UNSUPPORTED for svg/png/pdf when tapegrad was
 * built without Graphviz (the message explains how to use the dot program) or
 * Graphviz lacks the format's plugin. Not thread-safe with other Graphviz use
 * in the process (Graphviz keeps global error state). */
tg_status tg_dot_render(const tg_tape *t, const tg_tensor *root, const char *path, const tg_dot_opts *opts);

#endif
