/* tg dot: draws a built-in example model, after one backward pass.
 *
 *   x [32,20] -> layer1: linear 20->64, batchnorm, relu -> layer2: linear 64->10
 *   loss = cross_entropy(logits, labels) + l2_penalty(layer1.weight, layer2.weight)
 */
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"
#include "tools/commands.h"

enum { BATCH = 32, IN = 20, HIDDEN = 64, CLASSES = 10 };

static void usage(FILE *out) {
    fprintf(out,
            "usage: tg dot -o FILE [--collapse] [--grads] [--backward] [--lr|--tb] [--title TEXT]\n\n"
            "Draws the graph of a built-in example model after one backward pass:\n"
            "  x [32,20] -> layer1 (linear 20->64, batchnorm, relu) -> layer2 (linear 64->10)\n"
            "  loss = cross_entropy(logits, labels) + L2 penalty on the two weights (lambda 1e-4)\n"
            "FILE's extension picks the format: .dot (DOT text; '-' writes it to stdout),\n"
            ".svg, .png or .pdf (rendered with the Graphviz C library).\n\n"
            "  -o, --output FILE  where to write (required)\n"
            "  --collapse         draw each scope (layer1, cross_entropy, ...) as one node\n"
            "  --grads            colour edges and parameters by gradient norm (log scale)\n"
            "  --backward         record the backward pass too (create_graph) and draw it\n"
            "  --lr, --tb         lay out left to right, or top to bottom (default)\n"
            "  --title TEXT       a title above the graph\n");
}

/* The example: one training step's forward pass and backward pass on t. */
static tg_tensor *example(tg_tape *t, tg_params *p, bool create_graph) {
    tg_rng rng = tg_rng_new(42);
    int64_t x_shape[2] = {BATCH, IN}, labels[BATCH];
    for (int i = 0; i < BATCH; i++) labels[i] = (int64_t)(tg_rng_uniform(&rng) * CLASSES) % CLASSES;
    tg_tensor *W1 = tg_param(p, "layer1.weight", TG_F32, 2, (int64_t[]){IN, HIDDEN}, TG_INIT_KAIMING_UNIFORM, &rng);
    tg_tensor *b1 = tg_param(p, "layer1.bias", TG_F32, 1, (int64_t[]){HIDDEN}, TG_INIT_ZEROS, NULL);
    tg_tensor *W2 =
        tg_param(p, "layer2.weight", TG_F32, 2, (int64_t[]){HIDDEN, CLASSES}, TG_INIT_KAIMING_UNIFORM, &rng);
    tg_tensor *b2 = tg_param(p, "layer2.bias", TG_F32, 1, (int64_t[]){CLASSES}, TG_INIT_ZEROS, NULL);
    tg_batchnorm_state bn;
    if (!W1 || !b1 || !W2 || !b2 || tg_batchnorm_init(&bn, p, "layer1.bn", TG_F32, HIDDEN)) return NULL;

    tg_tensor *x = tg_normal(t, &rng, TG_F32, 2, x_shape, 0.0, 1.0);
    tg_tensor_set_name(x, "x");
    tg_requires_grad(x); /* an input: its gradient is drawn too */
    tg_tape_push_scope(t, "layer1");
    tg_tensor *h = tg_relu(t, tg_batchnorm(t, tg_linear(t, x, W1, b1), &bn, true));
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "layer2");
    tg_tensor *logits = tg_linear(t, h, W2, b2);
    tg_tape_pop_scope(t);
    tg_tensor *penalty = tg_l2_penalty_of(t, 2, (tg_tensor *[]){W1, W2}, 1e-4);
    tg_tensor *loss = tg_add(t, tg_cross_entropy(t, logits, BATCH, labels), penalty);
    if (!loss || tg_tensor_set_name(loss, "loss")) return NULL;
    /* retain_graph keeps the intermediates' gradients for the drawing */
    if (tg_backward(t, loss, &(tg_backward_opts){.retain_graph = true, .create_graph = create_graph})) return NULL;
    return loss;
}

int tg_cmd_dot(int argc, char **argv) {
    const char *path = NULL;
    tg_dot_opts opts = {.title = NULL};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (tg_flag(argv[i], "--help") || tg_flag(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = tg_option(argc, argv, &i, "-o")) || (v = tg_option(argc, argv, &i, "--output"))) {
            path = v;
        } else if ((v = tg_option(argc, argv, &i, "--title"))) {
            opts.title = v;
        } else if (tg_flag(argv[i], "--collapse")) {
            opts.collapse_scopes = true;
        } else if (tg_flag(argv[i], "--grads")) {
            opts.show_grads = true;
        } else if (tg_flag(argv[i], "--backward")) {
            opts.show_backward = true;
        } else if (tg_flag(argv[i], "--lr")) {
            opts.direction = TG_DOT_LR;
        } else if (tg_flag(argv[i], "--tb")) {
            opts.direction = TG_DOT_TB;
        } else {
            fprintf(stderr, "tg dot: unknown option '%s' (or its value is missing)\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "tg dot: -o FILE is required\n");
        usage(stderr);
        return 2;
    }
    tg_params *p = tg_params_new();
    tg_tape *t = tg_tape_new();
    if (!p || !t) {
        fprintf(stderr, "tg dot: %s\n", tg_last_error());
        return 1;
    }
    int status = 0;
    tg_tensor *loss = example(t, p, opts.show_backward);
    tg_status st = !loss                  ? TG_ERR_STATE
                   : strcmp(path, "-") == 0 ? tg_dot_write(t, NULL, stdout, &opts)
                                            : tg_dot_render(t, NULL, path, &opts);
    if (st) {
        fprintf(stderr, "tg dot: %s\n", loss ? tg_last_error() : tg_tape_error(t));
        status = 1;
    }
    tg_tape_free(t);
    tg_params_free(p);
    return status;
}
