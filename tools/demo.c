/* tg demo: fit y = a x^2 + b x + c to noisy samples by gradient descent.
 * The model is three scalar parameters; the loss is the mean squared error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"
#include "tools/commands.h"
#include "tools/options.h"

static const double TRUE_COEF[3] = {1.5, -2.0, 0.5}; /* a, b, c */
/* the fit has diverged once the loss exceeds this many times its first value */
static const double DIVERGED = 1e6;

static void usage(FILE *out) {
    fprintf(out, "usage: tg demo [--steps N] [--lr RATE] [--samples N] [--noise STD] [--seed S] [--detect-anomaly]\n\n"
                 "Fits y = a x^2 + b x + c (true a=%.1f b=%.1f c=%.1f) to noisy samples,\n"
                 "x uniform in [-2, 2], by full-batch gradient descent on the mean squared error.\n"
                 "Defaults: --steps 400 --lr 0.05 --samples 512 --noise 0.1 --seed 7\n"
                 "--detect-anomaly stops at the first op whose output or gradient is NaN or infinite\n"
                 "and names it (tg_tape_set_detect_anomaly).\n",
            TRUE_COEF[0], TRUE_COEF[1], TRUE_COEF[2]);
}

int tg_cmd_demo(int argc, char **argv) {
    const char *cmd = "tg demo";
    int64_t steps = 400, samples = 512;
    double lr = 0.05, noise = 0.1;
    uint64_t seed = 7;
    bool detect_anomaly = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool ok = true;
        if (tg_flag(argv[i], "--help") || tg_flag(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = tg_option(argc, argv, &i, "--steps"))) {
            ok = tg_parse_int(cmd, "--steps", v, 1, 100000000, &steps);
        } else if ((v = tg_option(argc, argv, &i, "--lr"))) {
            ok = tg_parse_number(cmd, "--lr", v, 1e-12, 1e6, &lr);
        } else if ((v = tg_option(argc, argv, &i, "--samples"))) {
            ok = tg_parse_int(cmd, "--samples", v, 3, 100000000, &samples);
        } else if ((v = tg_option(argc, argv, &i, "--noise"))) {
            ok = tg_parse_number(cmd, "--noise", v, 0, 1e6, &noise);
        } else if ((v = tg_option(argc, argv, &i, "--seed"))) {
            ok = tg_parse_seed(cmd, "--seed", v, &seed);
        } else if (tg_flag(argv[i], "--detect-anomaly")) {
            detect_anomaly = true;
        } else {
            fprintf(stderr, "tg demo: unknown option '%s' (or its value is missing)\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (!ok) return 2;
    }

    tg_rng rng = tg_rng_new(seed);
    double *xs = malloc(sizeof(double) * (size_t)samples), *ys = malloc(sizeof(double) * (size_t)samples);
    if (!xs || !ys) {
        fprintf(stderr, "tg demo: out of memory for %lld samples\n", (long long)samples);
        free(xs);
        free(ys);
        return 1;
    }
    for (int64_t i = 0; i < samples; i++) {
        double x = -2.0 + 4.0 * tg_rng_uniform(&rng);
        xs[i] = x;
        ys[i] = TRUE_COEF[0] * x * x + TRUE_COEF[1] * x + TRUE_COEF[2] + noise * tg_rng_normal(&rng);
    }

    /* each made only if the one before was, so tg_last_error() is the first failure's */
    const char *names[3] = {"a", "b", "c"};
    tg_params *params = tg_params_new();
    tg_tape *tape = params ? tg_tape_new() : NULL;
    tg_tensor *coef[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++)
        if (tape && (k == 0 || coef[k - 1]))
            coef[k] = tg_param(params, names[k], TG_F64, 1, (int64_t[]){1}, TG_INIT_ZEROS, NULL);
    tg_optim *opt = coef[2] ? tg_sgd_new(params, (tg_sgd_opts){.lr = lr, .momentum = 0.9}) : NULL;
    int status = 0;
    if (!opt) {
        fprintf(stderr, "tg demo: %s\n", tg_last_error());
        status = 1;
        steps = -1; /* skip the loop, free what was made */
    } else {
        printf("fitting y = a x^2 + b x + c to %lld noisy samples (noise std %g), SGD lr %g momentum 0.9\n",
               (long long)samples, noise, lr);
        tg_tape_set_detect_anomaly(tape, detect_anomaly);
    }
    int64_t n = samples;
    double first_loss = 0;
    for (int64_t step = 0; step <= steps; step++) {
        tg_tensor *x = tg_tensor_from(tape, TG_F64, 1, &n, xs);
        tg_tensor *y = tg_tensor_from(tape, TG_F64, 1, &n, ys);
        /* pred = a x^2 + b x + c;  loss = mean((pred - y)^2) */
        tg_tensor *pred = tg_add(tape, tg_add(tape, tg_mul(tape, coef[0], tg_square(tape, x)), tg_mul(tape, coef[1], x)),
                                 coef[2]);
        tg_tensor *loss = tg_mean(tape, tg_square(tape, tg_sub(tape, pred, y)), NULL, 0, false);
        if (!loss) {
            fprintf(stderr, "tg demo: %s\n", tg_tape_error(tape));
            status = 1;
            break;
        }
        double value = tg_item(loss);
        if (step == 0) first_loss = value;
        /* too large a step overshoots further each time: the loss grows without bound */
        if (!isfinite(value) || value > DIVERGED * first_loss) {
            fprintf(stderr,
                    "tg demo: diverged: the loss is %g at step %lld (%g at step 0); the learning rate %g is too "
                    "large for this problem (the default is 0.05)\n",
                    value, (long long)step, first_loss, lr);
            status = 1;
            break;
        }
        if (step % 40 == 0 || step == steps) printf("step %4lld  loss %.6f\n", (long long)step, value);
        if (step == steps) break;
        tg_zero_grad(params);
        if (tg_backward(tape, loss, NULL) || tg_optim_step(opt)) {
            fprintf(stderr, "tg demo: %s\n", tg_last_error());
            status = 1;
            break;
        }
        tg_tape_reset(tape);
    }
    if (status == 0) {
        printf("\n%-6s %10s %10s %9s\n", "coef", "learned", "true", "error");
        double worst = 0;
        for (int k = 0; k < 3; k++) {
            double learned = tg_item(coef[k]), rel = fabs(learned - TRUE_COEF[k]) / fabs(TRUE_COEF[k]);
            if (rel > worst) worst = rel;
            printf("%-6s %10.4f %10.4f %8.2f%%\n", names[k], learned, TRUE_COEF[k], 100 * rel);
        }
        printf("worst relative error %.2f%%\n", 100 * worst);
    }
    tg_tape_free(tape);
    tg_optim_free(opt);
    tg_params_free(params);
    free(xs);
    free(ys);
    return status;
}
