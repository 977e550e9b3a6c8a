/* tg: the tapegrad command-line program. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ops/matmul.h"
#include "tools/commands.h"

static const tg_command commands[] = {
    {"bench", "time matmul (GFLOP/s) and whole MLP training steps", tg_cmd_bench},
    {"demo", "fit a noisy quadratic by gradient descent (the default job)", tg_cmd_demo},
    {"dot", "draw an example model's graph (and its gradients) as DOT, svg, png or pdf", tg_cmd_dot},
    {"gradcheck", "check every op's first and second derivatives against central differences", tg_cmd_gradcheck},
    {"lesson", "the lessons of training (learning rate, batch size, L2, batchnorm, backprop) as experiments",
     tg_cmd_lesson},
    {"train", "train an MLP on Fashion-MNIST, a CSV file or a built-in set (the main job)", tg_cmd_train},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *out) {
    fprintf(out, "usage: tg <command> [options]\n\n"
                 "tapegrad: reverse-mode automatic differentiation in C.\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'tg <command> --help' describes a command's options; 'tg --version' prints the version.\n");
}

const char *tg_option(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0) return NULL;
    if (arg[n] == '=') return arg + n + 1;
    if (arg[n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

bool tg_flag(const char *arg, const char *name) { return strcmp(arg, name) == 0; }

int main(int argc, char **argv) {
    if (argc < 2 || tg_flag(argv[1], "--help") || tg_flag(argv[1], "-h") || tg_flag(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (tg_flag(argv[1], "--version") || tg_flag(argv[1], "-V")) {
        printf("tg %s (tapegrad %s, %s matmul kernel)\n", TG_VERSION, TG_VERSION, tg_matmul_kernel_name());
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tg: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
