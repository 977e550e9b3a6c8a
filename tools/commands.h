/* The tg program's subcommands: one file each, one line each in tg.c. */
#ifndef TG_TOOLS_COMMANDS_H
#define TG_TOOLS_COMMANDS_H

#include <stdbool.h>

#include "core/tensor.h"

typedef struct tg_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} tg_command;

int tg_cmd_bench(int argc, char **argv);
int tg_cmd_demo(int argc, char **argv);
int tg_cmd_dot(int argc, char **argv);
int tg_cmd_gradcheck(int argc, char **argv);
int tg_cmd_lesson(int argc, char **argv);
int tg_cmd_train(int argc, char **argv);

/* tg bench --op data (tools/bench_data.c) */
int tg_bench_data(tg_dtype dtype, double budget, bool json);
/* tg bench --op dist, alone or under mpirun (tools/bench_dist.c) */
int tg_bench_dist(tg_dtype dtype, double budget, bool json);

/* tg bench: a monotonic clock in seconds; the conv and pooling cases (tools/bench_conv.c) */
double tg_bench_now(void);
int tg_bench_conv(tg_dtype dtype, double budget, bool json);

/* Option parsing shared by subcommands: "--name=value" or "--name value". */
const char *tg_option(int argc, char **argv, int *i, const char *name);
bool tg_flag(const char *arg, const char *name);

#endif
