/* Writes the seed corpus of fuzz_checkpoint into a directory:
 *   build-fuzz/fuzz/seeds_checkpoint tests/fuzz/corpus/checkpoint
 * Files: the fuzz store's model (version 2 and version 1), a run checkpoint
 * with optimizer state and bytes records, a part of the model, another
 * model, an empty checkpoint, and empty and 0-d tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tapegrad.h"

static const char *dir;

static void write_bytes(const char *name, const void *bytes, size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(bytes, 1, size, out) != size || fclose(out) != 0) {
        fprintf(stderr, "seeds_checkpoint: cannot write %s\n", path);
        exit(1);
    }
}

static void write_checkpoint(const char *name, tg_checkpoint *c) {
    void *bytes;
    size_t size;
    if (tg_checkpoint_to_bytes(c, &bytes, &size)) {
        fprintf(stderr, "seeds_checkpoint: %s\n", tg_last_error());
        exit(1);
    }
    write_bytes(name, bytes, size);
    /* the same as a version 1 file: version field 1, checksum recomputed */
    if (strcmp(name, "model.tg") == 0) {
        unsigned char *v1 = bytes;
        uint32_t one = 1;
        memcpy(v1 + 8, &one, 4);
        uint64_t digest = XXH3_64bits(v1, size - 8);
        memcpy(v1 + size - 8, &digest, 8);
        write_bytes("model_v1.tg", v1, size);
    }
    free(bytes);
    tg_checkpoint_free(c);
}

/* The fuzz store's model, with values drawn from a seeded rng. */
static tg_params *model(void) {
    tg_params *p = tg_params_new();
    tg_rng rng = tg_rng_new(1);
    tg_param(p, "w", TG_F32, 2, (int64_t[]){2, 3}, TG_INIT_KAIMING_UNIFORM, &rng);
    tg_param(p, "b", TG_F32, 1, (int64_t[]){3}, TG_INIT_NORMAL, &rng);
    tg_buffer(p, "bn.running_mean", TG_F64, 1, (int64_t[]){3}, TG_INIT_UNIFORM, &rng);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seeds_checkpoint DIR\n");
        return 2;
    }
    dir = argv[1];
    tg_params *p = model();
    tg_tape *t = tg_tape_new();
    tg_checkpoint *c = tg_checkpoint_new();
    tg_checkpoint_add_params(c, p);
    write_checkpoint("model.tg", c);

    c = tg_checkpoint_new();
    tg_checkpoint_add_params(c, p);
    tg_checkpoint_add_tensor(c, "optim/w/momentum", TG_RECORD_STATE, tg_params_get(p, "w"));
    uint64_t step = 42;
    tg_checkpoint_add_bytes(c, "run/step", &step, sizeof step);
    tg_checkpoint_add_bytes(c, "run/settings", "--lr=0.05\n", 10);
    tg_checkpoint_add_bytes(c, "run/none", NULL, 0);
    write_checkpoint("run.tg", c);

    c = tg_checkpoint_new();
    tg_checkpoint_add_tensor(c, "w", TG_RECORD_PARAM, tg_params_get(p, "w"));
    write_checkpoint("part.tg", c);

    c = tg_checkpoint_new();
    tg_checkpoint_add_tensor(c, "fc1.weight", TG_RECORD_PARAM, tg_ones(t, TG_F64, 2, (int64_t[]){3, 2}));
    tg_checkpoint_add_tensor(c, "b", TG_RECORD_BUFFER, tg_params_get(p, "b"));
    write_checkpoint("other_model.tg", c);

    write_checkpoint("empty.tg", tg_checkpoint_new());

    c = tg_checkpoint_new();
    tg_checkpoint_add_tensor(c, "none", TG_RECORD_PARAM, tg_zeros(t, TG_F32, 3, (int64_t[]){4, 0, 2}));
    tg_checkpoint_add_tensor(c, "scalar", TG_RECORD_BUFFER, tg_scalar(t, TG_F64, 2.5));
    tg_checkpoint_add_tensor(c, "eight", TG_RECORD_PARAM,
                             tg_ones(t, TG_F32, 8, (int64_t[]){1, 2, 1, 2, 1, 1, 1, 2}));
    write_checkpoint("shapes.tg", c);

    tg_tape_free(t);
    tg_params_free(p);
    return 0;
}
