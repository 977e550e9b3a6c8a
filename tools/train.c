/* tg train: trains an MLP or a CNN on Fashion-MNIST, a CSV file or a built-in set,
 * with evaluation each epoch, progress, checkpoints that resume exactly, a
 * CSV log, curves and a picture of the graph. */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tapegrad.h"
#include "tools/timing.h"
#include "tools/commands.h"
#include "tools/options.h"
#ifdef TG_HAVE_MPI
#include "tapegrad_dist.h"
#endif

/* Under mpirun (tg_train_data_parallel): the ranks' collectives, else NULL;
 * rank 0 alone writes the log, the curves and the graph. */
static const tg_replicas *data_parallel;
static bool writes_files = true;

/* ---- options ---- */

typedef struct train_args {
    /* data */
    char data[512];
    char target[128];
    char task[16];
    double valid;
    int64_t samples;
    int64_t standardize;
    /* model */
    char model[16];
    char hidden[256];
    char channels[128];
    double dropout;
    char activation[32];
    int64_t batchnorm;
    char dtype[8];
    /* training */
    char optimizer[16];
    double lr, momentum, weight_decay, l2;
    char no_decay[128];
    int64_t epochs, batch;
    char schedule[16];
    double min_lr, gamma;
    int64_t step_epochs, warmup;
    int64_t seed;
    /* this invocation only */
    int64_t threads, max_steps, quiet;
    char save[512], resume[512], log[512], plot[512], export_dot[512];
} train_args;

typedef enum { INT, REAL, TEXT, SWITCH } kind;
/* RUN: part of the run (saved; on resume it must not change), DEFAULT: saved,
 * resumed unless given again, LOCAL: this invocation only. */
typedef enum { RUN, DEFAULT, LOCAL } scope;

typedef struct option {
    const char *name;
    kind kind;
    size_t offset, size;
    scope scope;
    double min, max; /* INT and REAL */
    const char *help;
} option;

#define AT(field) offsetof(train_args, field), sizeof(((train_args *)0)->field)
static const option options[] = {
    {"--data", TEXT, AT(data), RUN, 0, 0,
     "DIR (IDX files, Fashion-MNIST layout), FILE.csv, or a built-in set: spiral, blobs, circles, poly, bars"},
    {"--target", TEXT, AT(target), RUN, 0, 0, "CSV: the label/target column, by name or index (default: last)"},
    {"--task", TEXT, AT(task), RUN, 0, 0, "CSV: classify or regress"},
    {"--valid", REAL, AT(valid), RUN, 0.01, 0.99, "CSV and built-in sets: the held-out fraction"},
    {"--samples", INT, AT(samples), RUN, 10, 1e8, "built-in sets: how many samples"},
    {"--standardize", SWITCH, AT(standardize), RUN, 0, 0,
     "per-feature mean/std from the training split (--no-standardize: off)"},
    {"--model", TEXT, AT(model), RUN, 0, 0, "mlp, or cnn (image data: 3x3 convolutions and max pooling first)"},
    {"--hidden", TEXT, AT(hidden), RUN, 0, 0,
     "hidden linear layer sizes, e.g. 256,256 (empty: none; the cnn's default is 128)"},
    {"--channels", TEXT, AT(channels), RUN, 0, 0, "cnn: output channels of its conv 3x3 -> max pool 2x2 blocks"},
    {"--dropout", REAL, AT(dropout), RUN, 0, 0.99, "cnn: dropout probability before the last linear layer"},
    {"--activation", TEXT, AT(activation), RUN, 0, 0, "relu, tanh, sigmoid, gelu or leaky_relu"},
    {"--batchnorm", SWITCH, AT(batchnorm), RUN, 0, 0, "batchnorm after each hidden linear layer (--no-batchnorm)"},
    {"--dtype", TEXT, AT(dtype), RUN, 0, 0, "f32 or f64"},
    {"--optimizer", TEXT, AT(optimizer), RUN, 0, 0, "sgd, momentum, nesterov, adam or adamw"},
    {"--lr", REAL, AT(lr), RUN, 1e-12, 1e6, "learning rate"},
    {"--momentum", REAL, AT(momentum), RUN, 0, 0.999999, "momentum of momentum/nesterov"},
    {"--weight-decay", REAL, AT(weight_decay), RUN, 0, 1e3, "the optimizer's weight decay"},
    {"--no-decay", TEXT, AT(no_decay), RUN, 0, 0,
     "parameters without weight decay, by name pattern, e.g. '*.bias|bn*' (a parameter group)"},
    {"--l2", REAL, AT(l2), RUN, 0, 1e3, "lambda of the L2 penalty lambda/2 sum w^2 added to the loss"},
    {"--batch", INT, AT(batch), RUN, 1, 1e9,
     "mini-batch size (the training set size: batch gradient descent); under mpirun the global batch, split over "
     "the ranks"},
    {"--schedule", TEXT, AT(schedule), RUN, 0, 0, "constant, cosine or step (the cnn's default is cosine)"},
    {"--min-lr", REAL, AT(min_lr), RUN, 0, 1e6, "cosine: the final learning rate"},
    {"--step-epochs", INT, AT(step_epochs), RUN, 1, 1e6, "step: decay every this many epochs"},
    {"--gamma", REAL, AT(gamma), RUN, 1e-9, 1e3, "step: the decay factor"},
    {"--warmup", INT, AT(warmup), RUN, 0, 1e9, "linear warm-up over this many steps"},
    {"--seed", INT, AT(seed), RUN, 0, 9e15, "initialisation, splits and shuffling"},
    {"--epochs", INT, AT(epochs), DEFAULT, 1, 1e6, "epochs of the whole run"},
    {"--threads", INT, AT(threads), LOCAL, 1, 1024,
     "OpenMP threads on every step (default: OMP_NUM_THREADS or all, or 1 where timing steps finds it faster; under "
     "mpirun per rank, the cores over the machine's ranks)"},
    {"--max-steps", INT, AT(max_steps), LOCAL, 1, 1e12, "stop after this many steps in all (and save)"},
    {"--save", TEXT, AT(save), LOCAL, 0, 0, "a run checkpoint, written after each epoch and on Ctrl-C"},
    {"--resume", TEXT, AT(resume), LOCAL, 0, 0, "continue the run saved in FILE exactly"},
    {"--log", TEXT, AT(log), LOCAL, 0, 0, "per-step and per-epoch metrics as CSV"},
    {"--plot", TEXT, AT(plot), LOCAL, 0, 0, "loss and accuracy curves (.svg, .png or .pdf)"},
    {"--export-dot", TEXT, AT(export_dot), LOCAL, 0, 0,
     "the model's graph with gradient heat (.dot, .svg, .png or .pdf)"},
    {"--quiet", SWITCH, AT(quiet), LOCAL, 0, 0, "only the final result"},
};
enum { N_OPTIONS = sizeof options / sizeof options[0] };

static const char *const DEFAULT_FASHION_MNIST = "/usr/share/datasets/fashion-mnist";

static train_args defaults(void) {
    train_args a = {.valid = 0.2, .samples = 3000, .standardize = 1, .batchnorm = 1, .lr = 0.05, .momentum = 0.9,
                    .l2 = 1e-4, .epochs = 5, .batch = 128, .gamma = 0.1, .step_epochs = 1, .seed = 1};
    strcpy(a.task, "classify");
    strcpy(a.model, "mlp");
    strcpy(a.hidden, "256,256");
    strcpy(a.channels, "32,64");
    a.dropout = 0.25;
    strcpy(a.activation, "relu");
    strcpy(a.dtype, "f32");
    strcpy(a.optimizer, "momentum");
    strcpy(a.schedule, "constant");
    return a;
}

static void usage(FILE *out) {
    fprintf(out, "usage: tg train [options]\n\n"
                 "Trains a multi-layer perceptron (or, with --model cnn, a convolutional network) by\n"
                 "mini-batch gradient descent and evaluates it on the test split after every epoch.\n"
                 "Without --data: Fashion-MNIST from %s (Debian package\n"
                 "dataset-fashion-mnist), or when it is absent the built-in spiral set (for the cnn\n"
                 "bars: 8x8 images of a bar along a row, a column or the diagonal).\n"
                 "Ctrl-C stops after the current step (saving the run when --save is given).\n\n",
            DEFAULT_FASHION_MNIST);
    train_args d = defaults();
    for (int i = 0; i < N_OPTIONS; i++) {
        const option *o = &options[i];
        const void *field = (const char *)&d + o->offset;
        char value[64] = "";
        if (o->kind == INT && *(const int64_t *)field) snprintf(value, sizeof value, " (%lld)", (long long)*(const int64_t *)field);
        if (o->kind == REAL && *(const double *)field) snprintf(value, sizeof value, " (%g)", *(const double *)field);
        if (o->kind == TEXT && *(const char *)field) snprintf(value, sizeof value, " (%s)", (const char *)field);
        fprintf(out, "  %-16s %s%s\n", o->name, o->help, value);
    }
}

/* Strict numbers (tools/options.h): the whole text, finite, within [min, max]. */
static bool parse_number(const option *o, const char *text, train_args *a) {
    void *field = (char *)a + o->offset;
    if (o->kind == INT) return tg_parse_int("tg train", o->name, text, (int64_t)o->min, (int64_t)o->max, field);
    return tg_parse_number("tg train", o->name, text, o->min, o->max, field);
}

/* Sets option o from text (NULL for a switch); false + message on bad input. */
static bool set_option(const option *o, const char *text, bool negated, train_args *a) {
    void *field = (char *)a + o->offset;
    switch (o->kind) {
    case SWITCH: *(int64_t *)field = !negated; return true;
    case TEXT:
        if (strlen(text) >= o->size) {
            fprintf(stderr, "tg train: %s: the value is longer than %zu characters\n", o->name, o->size - 1);
            return false;
        }
        strcpy(field, text);
        return true;
    case INT:
    case REAL: return parse_number(o, text, a);
    }
    return false;
}

/* Parses argv[1..] into a; given[k] marks option k. Returns 0, or 2 on bad usage, -1 for --help. */
static int parse_args(int argc, char **argv, train_args *a, bool given[N_OPTIONS]) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (tg_flag(arg, "--help") || tg_flag(arg, "-h")) return -1;
        bool negated = strncmp(arg, "--no-", 5) == 0;
        int found = -1;
        for (int k = 0; k < N_OPTIONS && found < 0; k++) {
            const option *o = &options[k];
            if (o->kind == SWITCH) {
                if (negated ? strcmp(arg + 5, o->name + 2) == 0 : strcmp(arg, o->name) == 0) found = k;
            } else {
                size_t n = strlen(o->name);
                if (strncmp(arg, o->name, n) == 0 && (arg[n] == '=' || arg[n] == '\0')) found = k;
            }
        }
        if (found < 0) {
            fprintf(stderr, "tg train: unknown option '%s' ('tg train --help' lists them)\n", arg);
            return 2;
        }
        const option *o = &options[found];
        const char *value = NULL;
        if (o->kind != SWITCH) {
            value = tg_option(argc, argv, &i, o->name);
            if (!value) {
                fprintf(stderr, "tg train: %s needs a value\n", o->name);
                return 2;
            }
        }
        if (!set_option(o, value, negated, a)) return 2;
        given[found] = true;
    }
    return 0;
}

/* The run's settings as text, one "--name=value" per line (what a checkpoint keeps). */
static void settings_text(const train_args *a, char *out, size_t size) {
    size_t pos = 0;
    out[0] = '\0';
    for (int k = 0; k < N_OPTIONS && pos < size; k++) {
        const option *o = &options[k];
        if (o->scope == LOCAL) continue;
        const void *field = (const char *)a + o->offset;
        int n = 0;
        switch (o->kind) {
        case INT: n = snprintf(out + pos, size - pos, "%s=%lld\n", o->name, (long long)*(const int64_t *)field); break;
        case REAL: n = snprintf(out + pos, size - pos, "%s=%.17g\n", o->name, *(const double *)field); break;
        case TEXT: n = snprintf(out + pos, size - pos, "%s=%s\n", o->name, (const char *)field); break;
        case SWITCH:
            n = snprintf(out + pos, size - pos, "--%s%s\n", *(const int64_t *)field ? "" : "no-", o->name + 2);
            break;
        }
        pos += n > 0 ? (size_t)n : 0;
    }
}

/* Reads the saved settings into a; options given now must agree with RUN ones. */
static bool resume_settings(const char *path, train_args *a, const bool given[N_OPTIONS]) {
    char text[4096];
    if (tg_run_settings(path, text, sizeof text)) {
        fprintf(stderr, "tg train: %s\n", tg_last_error());
        return false;
    }
    train_args saved = *a;
    char *lines[N_OPTIONS * 2 + 1];
    int n = 0;
    lines[n++] = "tg train";
    for (char *line = strtok(text, "\n"); line && n < (int)(sizeof lines / sizeof *lines); line = strtok(NULL, "\n"))
        lines[n++] = line;
    bool saved_given[N_OPTIONS] = {0};
    if (parse_args(n, lines, &saved, saved_given) != 0) {
        fprintf(stderr, "tg train: '%s' holds settings this tg does not read\n", path);
        return false;
    }
    for (int k = 0; k < N_OPTIONS; k++) {
        const option *o = &options[k];
        if (o->scope == LOCAL || !saved_given[k]) continue;
        void *now = (char *)a + o->offset;
        const void *then = (const char *)&saved + o->offset;
        if (given[k] && o->scope == RUN && memcmp(now, then, o->size) != 0) {
            fprintf(stderr, "tg train: %s differs from the run saved in '%s'; drop it to resume that run\n", o->name,
                    path);
            return false;
        }
        if (!given[k]) memcpy(now, then, o->size);
    }
    return true;
}

/* ---- data ---- */

typedef struct {
    tg_dataset *train, *test;
    char description[256];
} data_sets;

static bool is_directory(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool load_data(train_args *a, data_sets *d) {
    *d = (data_sets){0};
    const char *source = a->data;
    if (!*source) {
        if (is_directory(DEFAULT_FASHION_MNIST)) {
            source = DEFAULT_FASHION_MNIST;
        } else {
            source = strcmp(a->model, "cnn") == 0 ? "bars" : "spiral"; /* the cnn needs images */
            printf("Fashion-MNIST is not installed (%s; as root: apt-get install dataset-fashion-mnist):\n"
                   "training on the built-in %s set instead\n",
                   DEFAULT_FASHION_MNIST, source);
        }
        snprintf(a->data, sizeof a->data, "%s", source);
    }
    tg_dataset *all = NULL;
    if (is_directory(source)) {
        d->train = tg_dataset_fashion_mnist(source, true);
        d->test = d->train ? tg_dataset_fashion_mnist(source, false) : NULL;
    } else if (ends_with(source, ".csv") || ends_with(source, ".CSV")) {
        bool classify = strcmp(a->task, "classify") == 0;
        if (!classify && strcmp(a->task, "regress") != 0) {
            fprintf(stderr, "tg train: --task '%s': expected classify or regress\n", a->task);
            return false;
        }
        tg_csv_opts csv = {.target_index = -1, .header = -1,
                           .task = classify ? TG_TASK_CLASSIFICATION : TG_TASK_REGRESSION};
        char *end;
        long index = strtol(a->target, &end, 10);
        if (*a->target && *end == '\0')
            csv.target_index = (int)index;
        else if (*a->target)
            csv.target_column = a->target;
        all = tg_dataset_csv(source, &csv);
    } else {
        all = tg_dataset_synthetic(source, a->samples, (uint64_t)a->seed);
    }
    if (all && tg_dataset_split(all, a->valid, (uint64_t)a->seed, &d->train, &d->test)) {
        tg_dataset_free(all);
        all = NULL;
        d->train = d->test = NULL;
    }
    tg_dataset_free(all); /* the views keep the storage */
    if (!d->train || !d->test) {
        fprintf(stderr, "tg train: %s\n", tg_last_error());
        tg_dataset_free(d->train);
        tg_dataset_free(d->test);
        return false;
    }
    if (a->standardize && (tg_dataset_standardize(d->train) || tg_dataset_standardize_like(d->test, d->train))) {
        fprintf(stderr, "tg train: %s\n", tg_last_error());
        return false;
    }
    int64_t shape[TG_MAX_DIMS];
    int ndim = tg_dataset_sample_shape(d->train, shape);
    char dims[64];
    tg_shape_str(ndim, shape, dims, sizeof dims);
    if (tg_dataset_task(d->train) == TG_TASK_CLASSIFICATION)
        snprintf(d->description, sizeof d->description, "%s: %lld train, %lld test, samples %s, %lld classes",
                 tg_dataset_name(d->train), (long long)tg_dataset_len(d->train), (long long)tg_dataset_len(d->test),
                 dims, (long long)tg_dataset_classes(d->train));
    else
        snprintf(d->description, sizeof d->description, "%s: %lld train, %lld test, samples %s, %lld targets",
                 tg_dataset_name(d->train), (long long)tg_dataset_len(d->train), (long long)tg_dataset_len(d->test),
                 dims, (long long)tg_dataset_targets(d->train));
    return true;
}

/* ---- model and optimizer ---- */

/* Up to max comma-separated sizes in [1, 1000000] into sizes; false + message naming the option. */
static bool parse_sizes(const char *name, const char *text, int64_t *sizes, int max, int *count) {
    *count = 0;
    for (const char *p = text; *p;) {
        char *end;
        errno = 0;
        long long units = strtoll(p, &end, 10);
        if (end == p || errno || units < 1 || units > 1000000 || (*end && *end != ',') || *count == max) {
            fprintf(stderr, "tg train: %s '%s': expected up to %d sizes in [1, 1000000], e.g. 256,256\n", name,
                    text, max);
            return false;
        }
        sizes[(*count)++] = units;
        p = *end ? end + 1 : end;
    }
    return true;
}

static bool parse_dtype(const train_args *a, tg_dtype *dtype) {
    if (strcmp(a->dtype, "f32") == 0 || strcmp(a->dtype, "f64") == 0) {
        *dtype = a->dtype[1] == '6' ? TG_F64 : TG_F32;
        return true;
    }
    fprintf(stderr, "tg train: --dtype '%s': expected f32 or f64\n", a->dtype);
    return false;
}

static tg_model *make_mlp(const train_args *a, const tg_dataset *train) {
    tg_mlp_opts m = {.inputs = tg_dataset_features(train), .batchnorm = a->batchnorm != 0, .replicas = data_parallel};
    m.outputs = tg_dataset_task(train) == TG_TASK_CLASSIFICATION ? tg_dataset_classes(train) : tg_dataset_targets(train);
    if (!tg_activation_parse(a->activation, &m.activation)) {
        fprintf(stderr, "tg train: --activation '%s': expected relu, tanh, sigmoid, gelu or leaky_relu\n",
                a->activation);
        return NULL;
    }
    if (!parse_dtype(a, &m.dtype) || !parse_sizes("--hidden", a->hidden, m.hidden, TG_MLP_MAX_HIDDEN, &m.n_hidden))
        return NULL;
    tg_model *model = tg_mlp_new(&m, (uint64_t)a->seed);
    if (!model) fprintf(stderr, "tg train: %s\n", tg_last_error());
    return model;
}

/* The cnn on image samples: [H,W] (one channel) or [C,H,W]. */
static tg_model *make_cnn(const train_args *a, const tg_dataset *train) {
    int64_t shape[TG_MAX_DIMS];
    int ndim = tg_dataset_sample_shape(train, shape);
    if (tg_dataset_task(train) != TG_TASK_CLASSIFICATION || (ndim != 2 && ndim != 3)) {
        char dims[64];
        fprintf(stderr, "tg train: --model cnn classifies images ([H,W] or [C,H,W] samples); %s has samples %s%s\n",
                tg_dataset_name(train), tg_shape_str(ndim, shape, dims, sizeof dims),
                tg_dataset_task(train) == TG_TASK_CLASSIFICATION ? "" : " and regression targets");
        return NULL;
    }
    tg_cnn_opts c = {.channels = ndim == 3 ? shape[0] : 1, .height = shape[ndim - 2], .width = shape[ndim - 1],
                     .outputs = tg_dataset_classes(train), .batchnorm = a->batchnorm != 0, .dropout = a->dropout,
                     .replicas = data_parallel};
    if (strcmp(a->activation, "relu") != 0) {
        fprintf(stderr, "tg train: --model cnn uses relu (--activation '%s')\n", a->activation);
        return NULL;
    }
    if (!parse_dtype(a, &c.dtype) || !parse_sizes("--channels", a->channels, c.conv, TG_CNN_MAX_CONV, &c.n_conv) ||
        !parse_sizes("--hidden", a->hidden, c.hidden, TG_MLP_MAX_HIDDEN, &c.n_hidden))
        return NULL;
    tg_model *model = tg_cnn_new(&c, (uint64_t)a->seed);
    if (!model) fprintf(stderr, "tg train: %s\n", tg_last_error());
    return model;
}

static tg_optim *make_optimizer(const train_args *a, tg_params *p, char *description, size_t size) {
    tg_optim *opt = NULL;
    const char *name = a->optimizer;
    if (strcmp(name, "sgd") == 0 || strcmp(name, "momentum") == 0 || strcmp(name, "nesterov") == 0) {
        tg_sgd_opts o = {.lr = a->lr, .weight_decay = a->weight_decay};
        if (strcmp(name, "sgd") != 0) o.momentum = a->momentum;
        o.nesterov = strcmp(name, "nesterov") == 0;
        opt = tg_sgd_new(p, o);
        if (o.momentum > 0)
            snprintf(description, size, "SGD %s %g, lr %g", o.nesterov ? "nesterov momentum" : "momentum", o.momentum,
                     a->lr);
        else
            snprintf(description, size, "SGD, lr %g", a->lr);
    } else if (strcmp(name, "adam") == 0 || strcmp(name, "adamw") == 0) {
        tg_adam_opts o = name[4] == 'w' ? tg_adamw_defaults() : tg_adam_defaults();
        o.lr = a->lr;
        o.weight_decay = a->weight_decay;
        opt = tg_adam_new(p, o);
        snprintf(description, size, "%s, lr %g", name[4] == 'w' ? "AdamW" : "Adam", a->lr);
    } else {
        fprintf(stderr, "tg train: --optimizer '%s': expected sgd, momentum, nesterov, adam or adamw\n", name);
        return NULL;
    }
    if (opt && *a->no_decay &&
        tg_optim_add_group(opt, a->no_decay, (tg_optim_group_opts){.weight_decay = TG_OVERRIDE(0)}) < 0) {
        tg_optim_free(opt);
        opt = NULL;
    }
    if (!opt) fprintf(stderr, "tg train: %s\n", tg_last_error());
    if (opt && a->weight_decay > 0) {
        size_t n = strlen(description);
        snprintf(description + n, size - n, ", weight decay %g%s%s", a->weight_decay, *a->no_decay ? " except " : "",
                 a->no_decay);
    }
    return opt;
}

static bool make_schedule(const train_args *a, tg_lr_schedule *s) {
    *s = (tg_lr_schedule){.min_lr = a->min_lr, .step_epochs = a->step_epochs, .gamma = a->gamma,
                          .warmup_steps = a->warmup};
    if (strcmp(a->schedule, "constant") == 0)
        s->kind = TG_LR_CONSTANT;
    else if (strcmp(a->schedule, "cosine") == 0)
        s->kind = TG_LR_COSINE;
    else if (strcmp(a->schedule, "step") == 0)
        s->kind = TG_LR_STEP;
    else {
        fprintf(stderr, "tg train: --schedule '%s': expected constant, cosine or step\n", a->schedule);
        return false;
    }
    return true;
}

/* The models --model names. */
static tg_model *make_model(const train_args *a, const tg_dataset *train) {
    if (strcmp(a->model, "mlp") == 0) return make_mlp(a, train);
    if (strcmp(a->model, "cnn") == 0) return make_cnn(a, train);
    fprintf(stderr, "tg train: --model '%s': expected mlp or cnn\n", a->model);
    return NULL;
}

/* ---- after training ---- */

static const char *class_name(const void *ds, int64_t k) { return tg_dataset_class_name(ds, k); }

/* One training step's graph with gradient heat, drawn without changing the
 * model (batchnorm's running statistics are put back). */
static bool export_graph(const char *path, tg_model *model, const tg_dataset *train, const tg_fit_opts *fit) {
    tg_params *p = model->params;
    tg_tape *t = tg_tape_new();
    int64_t count = tg_dataset_len(train) < 64 ? tg_dataset_len(train) : 64;
    int64_t indices[64];
    for (int64_t i = 0; i < count; i++) indices[i] = i;
    tg_params *saved = tg_params_new();
    bool ok = t && saved;
    for (int i = 0; ok && i < tg_params_count(p); i++) { /* a copy of every buffer */
        const tg_tensor *b = tg_params_at(p, i);
        if (b->kind != TG_KIND_BUFFER) continue;
        tg_tensor *copy = tg_buffer(saved, b->name, b->dtype, b->ndim, b->shape, TG_INIT_ZEROS, NULL);
        ok = copy && !tg_tensor_copy_values(copy, b);
    }
    tg_batch batch;
    tg_tensor *loss = NULL;
    if (ok && !tg_dataset_gather(t, train, fit->dtype, count, indices, &batch)) {
        tg_tensor_set_name(batch.x, "x");
        tg_tensor *out = model->forward(t, model, batch.x, true);
        loss = tg_dataset_task(train) == TG_TASK_CLASSIFICATION ? tg_cross_entropy(t, out, count, batch.labels)
                                                               : tg_mse(t, out, batch.targets);
        if (loss && fit->l2 > 0) loss = tg_add(t, loss, tg_l2_penalty(t, p, fit->l2));
        if (loss) tg_tensor_set_name(loss, "loss");
    }
    tg_status st = ok ? TG_OK : TG_ERR_NOMEM;
    if (ok && !loss) st = tg_tape_status(t);
    if (!st) {
        tg_zero_grad(p);
        st = tg_backward(t, loss, NULL);
    }
    if (!st && writes_files) {
        tg_dot_opts opts = {.show_grads = true, .title = model->description};
        if (ends_with(path, ".dot")) {
            FILE *f = fopen(path, "w");
            st = f ? tg_dot_write(t, loss, f, &opts) : tg_set_error(TG_ERR_IO, "cannot write '%s'", path);
            if (f && fclose(f) && !st) st = tg_set_error(TG_ERR_IO, "writing '%s' failed", path);
        } else {
            st = tg_dot_render(t, loss, path, &opts);
        }
    }
    for (int i = 0; saved && i < tg_params_count(saved); i++) { /* put the running statistics back */
        const tg_tensor *b = tg_params_at(saved, i);
        tg_tensor_copy_values(tg_params_get(p, b->name), b);
    }
    if (st) fprintf(stderr, "tg train: --export-dot: %s\n", t && tg_tape_status(t) ? tg_tape_error(t) : tg_last_error());
    tg_params_free(saved);
    tg_tape_free(t);
    return st == TG_OK;
}

/* ---- the command ---- */

static volatile sig_atomic_t interrupted;
static void on_interrupt(int signal) {
    (void)signal;
    interrupted = 1;
}

static int64_t count_parameters(const tg_params *p) { return tg_params_numel(p); }

/* ---- data parallel: tg train under mpirun ---- */

static int train(int argc, char **argv);
static bool setup_agreed; /* this rank took part in the setup agreement */

/* Every rank's setup (options, data, model, trainer) went well, or all
 * stop: the first collective of a run. A rank whose train() returned before
 * it takes part from train_data_parallel, so no rank waits for it. */
static int agree_on_setup(int status) {
    tg_status local = status ? (tg_last_status() ? tg_last_status() : TG_ERR_ARG) : TG_OK;
    tg_status st = data_parallel->agree(data_parallel->user, local);
    setup_agreed = true;
    if (st && !status && data_parallel->rank == 0) fprintf(stderr, "tg train: %s\n", tg_last_error());
    return st ? 1 : status;
}

/* From here on every error is agreed by all ranks (the status is the same
 * everywhere) and reported by rank 0, and mpirun's SIGTERM (its Ctrl-C)
 * stops training after the step like SIGINT does. */
static int data_parallel_ready(int status, const struct sigaction *action) {
    if (data_parallel->rank != 0 && !freopen("/dev/null", "w", stderr)) status = 1;
    sigaction(SIGTERM, action, NULL);
    return status;
}

#ifdef TG_HAVE_MPI
/* N ranks of the same tg train: rank 0 prints and writes; each rank takes
 * the cores of its machine divided among its ranks unless told otherwise. A
 * rank that fails before training tells the others in the setup agreement:
 * all stop with its message, none waits in a collective. */
static int train_data_parallel(int argc, char **argv) {
    tg_dist *dist = tg_dist_init(NULL, NULL, NULL);
    if (!dist) {
        fprintf(stderr, "tg train: %s\n", tg_last_error());
        return 1;
    }
    data_parallel = tg_dist_replicas(dist);
    writes_files = tg_dist_rank(dist) == 0;
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE"); /* ranks on this machine */
    int64_t local_ranks;
    if (!getenv("OMP_NUM_THREADS") && local &&
        tg_parse_int("tg train", "OMPI_COMM_WORLD_LOCAL_SIZE", local, 1, 1 << 20, &local_ranks)) {
        int share = tg_get_num_threads() / (int)local_ranks;
        tg_set_num_threads(share > 0 ? share : 1);
    }
    if (!writes_files && !freopen("/dev/null", "w", stdout)) return 1;
    printf("data parallel: %d ranks (each trains on its share of every batch)\n", tg_dist_size(dist));
    int status = train(argc, argv);
    if (status && !setup_agreed) { /* stopped before the agreement (its message is above): take part */
        tg_set_error(TG_ERR_ARG, "tg train stopped before training (see that rank's message)");
        agree_on_setup(status);
    }
    tg_dist_finalize(dist);
    return status;
}
#endif

int tg_cmd_train(int argc, char **argv) {
#ifdef TG_HAVE_MPI
    if (tg_dist_launched()) return train_data_parallel(argc, argv);
#endif
    return train(argc, argv);
}

static int train(int argc, char **argv) {
    train_args a = defaults();
    bool given[N_OPTIONS] = {0};
    int rc = parse_args(argc, argv, &a, given);
    if (rc < 0) {
        usage(stdout);
        return 0;
    }
    if (rc) return rc;
    if (*a.resume && !resume_settings(a.resume, &a, given)) return 2;
    /* the cnn's own defaults: one hidden layer of 128, a cosine schedule (a resumed run keeps its saved ones) */
    for (int k = 0; k < N_OPTIONS && !*a.resume && strcmp(a.model, "cnn") == 0; k++) {
        if (given[k]) continue;
        if (strcmp(options[k].name, "--hidden") == 0) strcpy(a.hidden, "128");
        if (strcmp(options[k].name, "--schedule") == 0) strcpy(a.schedule, "cosine");
    }
    if (a.threads) { /* exactly that many: no timing of steps */
        tg_set_num_threads((int)a.threads);
        tg_set_thread_choice_by_timing(false);
    }

    double load_start = now_seconds();
    data_sets data;
    if (!load_data(&a, &data)) return 1;
    double load_seconds = now_seconds() - load_start;
    tg_model *model = make_model(&a, data.train);
    char optimizer_text[400];
    tg_optim *opt = model ? make_optimizer(&a, model->params, optimizer_text, sizeof optimizer_text) : NULL;
    tg_lr_schedule schedule;
    if (!opt || !make_schedule(&a, &schedule)) {
        tg_model_free(model);
        tg_dataset_free(data.train);
        tg_dataset_free(data.test);
        return opt ? 2 : 1;
    }

    FILE *log = NULL;
    if (*a.log && writes_files) {
        log = fopen(a.log, *a.resume ? "a" : "w");
        if (!log) fprintf(stderr, "tg train: cannot write the log '%s': %s\n", a.log, strerror(errno));
        else if (!*a.resume || ftell(log) == 0) tg_log_header(log);
    }
    char settings[4096];
    settings_text(&a, settings, sizeof settings);
    tg_progress_printer printer = tg_progress_printer_for(stdout);
    /* the cnn's activations are large: it evaluates in training-sized batches, so that evaluation fits in
     * the memory a training step already holds (the trainer evaluates on the training tape) */
    int64_t eval_batch = strcmp(a.model, "cnn") == 0 ? a.batch : 1000;
    tg_fit_opts fit = {.epochs = a.epochs,
                       .batch_size = a.batch,
                       .eval_batch_size = eval_batch,
                       .dtype = strcmp(a.dtype, "f64") == 0 ? TG_F64 : TG_F32,
                       .l2 = a.l2,
                       .seed = (uint64_t)a.seed,
                       .schedule = schedule,
                       .checkpoint_path = *a.save ? a.save : NULL,
                       .max_steps = a.max_steps,
                       .stop = &interrupted,
                       .log = log,
                       .progress = a.quiet ? NULL : tg_progress_print,
                       .progress_user = &printer,
                       .settings = settings,
                       .replicas = data_parallel};
    tg_trainer *tr = tg_trainer_new(model, opt, data.train, data.test, &fit);
    int status = 0;
    if (!tr) {
        fprintf(stderr, "tg train: %s\n", tg_last_error());
        status = 1;
    }
    if (data_parallel) status = agree_on_setup(status);
    if (!status && *a.resume && tg_trainer_resume(tr, a.resume)) { /* agreed by every rank */
        fprintf(stderr, "tg train: %s\n", tg_last_error());
        status = 1;
    }
    if (!status && !a.quiet) {
        printf("data: %s (loaded in %.2f s)\n", data.description, load_seconds);
        int threads = tg_get_num_threads();
        bool timed = threads > 1 && tg_thread_choice_by_timing();
        printf("model: %s, %lld parameters; %s; L2 %g; batch %lld; %lld epochs; %d thread%s%s\n", model->description,
               (long long)count_parameters(model->params), optimizer_text, a.l2, (long long)a.batch,
               (long long)a.epochs, threads, threads == 1 ? "" : "s",
               timed ? " (or 1 where timing steps finds it faster)" : "");
        if (*a.resume)
            printf("resumed from %s after %lld epochs (%lld steps)\n", a.resume,
                   (long long)tg_trainer_epochs_done(tr), (long long)tg_trainer_steps(tr));
    }
    struct sigaction action = {.sa_handler = on_interrupt}, previous;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous);
    if (data_parallel) status = data_parallel_ready(status, &action);
    if (!status && tg_trainer_fit(tr)) {
        fprintf(stderr, "\ntg train: %s\n", tg_last_error());
        status = 1;
    }
    sigaction(SIGINT, &previous, NULL);
    if (log) fclose(log);

    if (!status && tg_trainer_stopped(tr)) {
        printf("\nstopped after %lld steps (epoch %lld of %lld)", (long long)tg_trainer_steps(tr),
               (long long)tg_trainer_epochs_done(tr) + 1, (long long)a.epochs);
        if (*a.save) printf("; saved to %s: continue with  tg train --resume %s", a.save, a.save);
        printf("\n");
        status = interrupted ? 130 : 0;
    } else if (!status) {
        const tg_history *h = tg_trainer_history(tr);
        const tg_epoch_metrics *last = &h->epochs[h->n_epochs - 1];
        double seconds = 0;
        for (int64_t e = 0; e < h->n_epochs; e++) seconds += h->epochs[e].train_seconds;
        tg_evaluation eval;
        tg_tape *t = tg_tape_new();
        if (t && !tg_evaluate(model, data.test, fit.dtype, eval_batch, t, &eval)) {
            if (tg_dataset_task(data.test) == TG_TASK_CLASSIFICATION) {
                if (!a.quiet) {
                    printf("\nconfusion matrix on the test split (rows: true class, columns: predicted)\n");
                    tg_confusion_print(stdout, &eval.confusion, class_name, data.test);
                }
                printf("\ntest accuracy %.2f%% (loss %.4f) after %lld epochs; training %.2f s (%.3f s/epoch)\n",
                       100 * eval.accuracy, eval.loss, (long long)last->epoch, seconds,
                       seconds / (double)h->n_epochs);
            } else {
                printf("\ntest MSE %.6g after %lld epochs; training %.2f s (%.3f s/epoch)\n", eval.loss,
                       (long long)last->epoch, seconds, seconds / (double)h->n_epochs);
            }
            tg_confusion_free(&eval.confusion);
        } else {
            fprintf(stderr, "tg train: %s\n", tg_last_error());
            status = 1;
        }
        tg_tape_free(t);
        if (!isfinite(last->train_loss)) {
            fprintf(stderr, "tg train: the loss diverged (%g); try a smaller --lr\n", last->train_loss);
            status = 1;
        }
    }
    if (tr && *a.plot && writes_files && tg_trainer_history(tr)->n_steps) {
        char title[256];
        snprintf(title, sizeof title, "%s on %s", model->description, tg_dataset_name(data.train));
        if (tg_plot_history(tg_trainer_history(tr), tr ? (tg_dataset_len(data.train) + a.batch - 1) / a.batch : 0,
                            a.plot, title)) {
            fprintf(stderr, "tg train: --plot: %s\n", tg_last_error());
            if (!status) status = 1;
        } else {
            printf("curves: %s\n", a.plot);
        }
    }
    if (!status && *a.export_dot) {
        if (export_graph(a.export_dot, model, data.train, &fit))
            printf("graph: %s\n", a.export_dot);
        else
            status = 1;
    }
    if (!status && *a.log) printf("log: %s\n", a.log);
    if (!status && *a.save) printf("checkpoint: %s\n", a.save);
    tg_trainer_free(tr);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dataset_free(data.train);
    tg_dataset_free(data.test);
    return status;
}
