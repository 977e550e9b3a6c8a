/* Lesson "backprop": reverse mode by hand. A 2-2-1 network on one sample,
 * written with scalar tensors so that every node of the tape is one number:
 *     h_j = tanh(w_j1 x1 + w_j2 x2 + b_j)   (j = 1, 2)
 *     y_hat = v1 h1 + v2 h2 + c,   L = 1/2 (y_hat - y)^2
 * The lesson prints the forward pass as the tape recorded it (each node's
 * op, inputs and value), then the backward pass in reverse tape order: each
 * node's gradient dL/dnode (accumulated from the nodes that used it), each
 * local derivative d node / d input (the op's own backward rule applied to
 * 1) and what it passes on, dL/dnode times the local derivative. Last, each
 * parameter's gradient against central differences (tg_gradcheck).
 *
 *   tg_lesson_backprop_opts o = tg_lesson_backprop_defaults();
 *   tg_lesson_backprop_result r;
 *   tg_lesson_backprop_run(&o, &r);    // r.nodes[i].grad, r.params[k].numerical, ...
 */
#ifndef TG_TRAIN_LESSON_BACKPROP_H
#define TG_TRAIN_LESSON_BACKPROP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "train/lesson.h"

enum { TG_BACKPROP_MAX_NODES = 24, TG_BACKPROP_PARAMS = 9 };

typedef struct tg_lesson_backprop_opts {
    uint64_t seed;   /* the sample and the weights, each U(-1, 1) rounded to 0.1 (1) */
    double target;   /* y (1) */
} tg_lesson_backprop_opts;

tg_lesson_backprop_opts tg_lesson_backprop_defaults(void);

/* One operation of the forward pass, in tape order. */
typedef struct tg_backprop_node {
    char name[8];        /* "z1", "h1", "L" */
    char op[24];         /* "mul", "tanh", ... (the tape's op name) */
    int n_inputs;        /* 1 or 2 */
    char inputs[2][8];   /* names of the inputs: nodes, parameters, "x1", "y" */
    double value;
    double grad;         /* dL/dnode after the backward pass */
    double local[2];     /* d node / d input k; NaN for an input that needs no gradient (x1, y) */
} tg_backprop_node;

typedef struct tg_backprop_param {
    char name[8];        /* "w11" */
    double value;
    double grad;         /* dL/dparam from tg_backward */
    double numerical;    /* the same by central differences (tg_gradcheck's) */
} tg_backprop_param;

typedef struct tg_lesson_backprop_result {
    tg_lesson_backprop_opts opts;
    double x[2], y;
    int n_nodes;
    tg_backprop_node nodes[TG_BACKPROP_MAX_NODES];
    tg_backprop_param params[TG_BACKPROP_PARAMS]; /* w11 w12 b1 w21 w22 b2 v1 v2 c */
    double loss;
    /* checks */
    double chain_rule_error;   /* max over nodes and parameters |dL/dt - sum over its users of their dL/dnode x
                                  local derivative| */
    double max_abs_error;      /* max over parameters |grad - numerical| */
    bool gradcheck_passed;     /* tg_gradcheck over all nine parameters at once */
} tg_lesson_backprop_result;

tg_status tg_lesson_backprop_run(const tg_lesson_backprop_opts *o, tg_lesson_backprop_result *r);
void tg_lesson_backprop_print(FILE *out, const tg_lesson_backprop_result *r);
/* The backward graph of the lesson's network with its gradients (DOT). */
tg_status tg_lesson_backprop_plot(const tg_lesson_backprop_result *r, const char *path);

extern const tg_lesson tg_lesson_backprop;

#endif
