/* Models the training loop can fit: a parameter store plus a forward function.
 * Any C function of the form  outputs = forward(tape, model, x, training)  is a
 * model; tg_mlp_new builds the multi-layer perceptron `tg train` uses.
 *
 *   tg_model *m = tg_mlp_new(&(tg_mlp_opts){.inputs = 784, .hidden = {256, 256}, .n_hidden = 2,
 *                                           .outputs = 10, .batchnorm = true}, 42);
 *   tg_tensor *logits = m->forward(tape, m, x, true);      // x [N,784] -> [N,10]
 */
#ifndef TG_TRAIN_MODEL_H
#define TG_TRAIN_MODEL_H

#include "core/params.h"
#include "core/replicas.h"
#include "core/tape.h"

typedef struct tg_model tg_model;
struct tg_model {
    tg_params *params;    /* every parameter and buffer (checkpointed) */
    /* x [N, ...] -> outputs [N, classes] (logits) or [N, targets]; training
     * selects batch statistics (batchnorm) over running ones. In data-parallel
     * training it makes the same synchronised batchnorm calls on every rank,
     * also when x is NULL or an op failed (ops pass the NULL along). */
    tg_tensor *(*forward)(tg_tape *t, tg_model *m, tg_tensor *x, bool training);
    void (*free)(tg_model *m); /* frees the model and its store */
    char description[160];     /* "mlp 784-256-256-10 relu batchnorm" */
};

void tg_model_free(tg_model *m); /* NULL is fine */

typedef enum tg_activation {
    TG_ACT_RELU = 0,
    TG_ACT_TANH,
    TG_ACT_SIGMOID,
    TG_ACT_GELU,
    TG_ACT_LEAKY_RELU /* slope 0.01, PyTorch's default */
} tg_activation;

/* "relu" -> TG_ACT_RELU; false for an unknown name. */
bool tg_activation_parse(const char *name, tg_activation *out);
const char *tg_activation_name(tg_activation a);

enum { TG_MLP_MAX_HIDDEN = 16 };

typedef struct tg_mlp_opts {
    int64_t inputs;                      /* features per sample (the input is flattened) */
    int64_t hidden[TG_MLP_MAX_HIDDEN];   /* sizes of the hidden layers */
    int n_hidden;
    int64_t outputs;                     /* classes or regression targets */
    tg_activation activation;
    bool batchnorm;                      /* linear -> batchnorm -> activation in every hidden layer */
    tg_dtype dtype;
    /* Data parallel: batchnorm statistics over the global batch of these
     * replicas (synchronised batchnorm, ops/nn.h); NULL: this process's batch. */
    const tg_replicas *replicas;
} tg_mlp_opts;

/* Layers "fc1", "fc2", ... ("fc<k>.weight" [in,out], "fc<k>.bias" [out]) and
 * "bn<k>" for batchnorm, initialised like torch.nn.Linear (weight and bias
 * U(-1/sqrt(in), 1/sqrt(in))) from a generator seeded with `seed`.
 * NULL + tg_last_error() on bad options. */
tg_model *tg_mlp_new(const tg_mlp_opts *opts, uint64_t seed);

enum { TG_CNN_MAX_CONV = 6 };

typedef struct tg_cnn_opts {
    int64_t channels, height, width;     /* one input sample [C,H,W] (the input is reshaped to [N,C,H,W]) */
    int64_t conv[TG_CNN_MAX_CONV];       /* output channels of the 3x3 convolutions, e.g. 32, 64 */
    int n_conv;
    int64_t hidden[TG_MLP_MAX_HIDDEN];   /* sizes of the hidden linear layers after them, e.g. 128 */
    int n_hidden;
    int64_t outputs;                     /* classes */
    bool batchnorm;                      /* conv -> batchnorm -> relu in every block */
    double dropout;                      /* before the last linear layer, in training; 0: none */
    tg_dtype dtype;
    /* Data parallel: batchnorm statistics over the global batch of these
     * replicas (synchronised batchnorm, ops/nn.h), and dropout masks drawn
     * per rank; NULL: this process alone. */
    const tg_replicas *replicas;
} tg_cnn_opts;

/* A convolutional network for images: n_conv blocks "conv<k>" of conv 3x3
 * (padding 1; a bias only without batchnorm) -> [batchnorm "bn<k>"] -> relu
 * -> max pool 2x2, which halve the height and width; then flatten, linear
 * "fc<k>" -> relu for each hidden size, dropout, and the linear output layer. With conv 32, 64, hidden 128
 * on 28x28 images: 28 -> 14 -> 7, 64 x 7 x 7 = 3136 -> 128 -> outputs.
 * Initialised like torch.nn.Conv2d and Linear (weights and biases
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in))) from a generator seeded with `seed`;
 * the dropout masks come from that seed and a step counter kept as the
 * buffer "dropout.steps", so a resumed run draws the same masks (and from
 * the rank under data parallelism: each rank its own).
 * NULL + tg_last_error() on bad options. */
tg_model *tg_cnn_new(const tg_cnn_opts *opts, uint64_t seed);

#endif
