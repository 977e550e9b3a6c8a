/* Writes the seed corpora of the fuzz targets into DIR/checkpoint, DIR/idx
 * and DIR/csv:
 *   build-fuzz/fuzz/seeds tests/fuzz/corpus
 * checkpoint: the fuzz store's model (version 2 and version 1), a run
 * checkpoint with optimizer state and bytes records, a part of the model,
 * another model, an empty checkpoint, and empty, 0-d and 8-d tensors.
 * idx: a little-endian u32 length, the images file, the labels file; u8, i8,
 * i16, i32, f32 and f64 images, one pair gzip-compressed, an empty set, and
 * two sets that must be refused. csv: an options byte (see fuzz_csv.c), then
 * the text: headers, quotes, CRLF, blank lines, ';', regression, gzip. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>
#include <zlib.h>

#include "tapegrad.h"

static char checkpoint_dir[512], idx_dir[512], csv_dir[512];

static void write_bytes(const char *dir, const char *name, const void *bytes, size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(bytes, 1, size, out) != size || fclose(out) != 0) {
        fprintf(stderr, "seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* ---- checkpoint ---- */

static void write_checkpoint(const char *name, tg_checkpoint *c) {
    void *bytes;
    size_t size;
    if (tg_checkpoint_to_bytes(c, &bytes, &size)) {
        fprintf(stderr, "seeds_checkpoint: %s\n", tg_last_error());
        exit(1);
    }
    write_bytes(checkpoint_dir, name, bytes, size);
    /* the same as a version 1 file: version field 1, checksum recomputed */
    if (strcmp(name, "model.tg") == 0) {
        unsigned char *v1 = bytes;
        uint32_t one = 1;
        memcpy(v1 + 8, &one, 4);
        uint64_t digest = XXH3_64bits(v1, size - 8);
        memcpy(v1 + size - 8, &digest, 8);
        write_bytes(checkpoint_dir, "model_v1.tg", v1, size);
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

static void checkpoint_seeds(void) {
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
}

/* ---- idx and csv ---- */

static size_t gzip(const void *data, size_t size, unsigned char *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(1);
    z.next_in = (unsigned char *)data;
    z.avail_in = (unsigned)size;
    z.next_out = out;
    z.avail_out = (unsigned)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) exit(1);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

typedef struct {
    unsigned char bytes[8192];
    size_t size;
} buffer;

static void put(buffer *b, const void *p, size_t n) {
    memcpy(b->bytes + b->size, p, n);
    b->size += n;
}
static void put_be32(buffer *b, uint32_t v) {
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    put(b, p, 4);
}

/* An IDX file: magic, dimensions, then the body (elements already big-endian). */
static void idx_file(buffer *b, int type, int ndim, const uint32_t *dims, const unsigned char *body, size_t body_size) {
    b->size = 0;
    unsigned char magic[4] = {0, 0, (unsigned char)type, (unsigned char)ndim};
    put(b, magic, 4);
    for (int d = 0; d < ndim; d++) put_be32(b, dims[d]);
    put(b, body, body_size);
}

/* The fuzz input: u32 length of images, images, labels (each gzip or not). */
static void idx_seed(const char *name, const buffer *images, const buffer *labels, bool compress) {
    static unsigned char zi[16384], zl[16384];
    const unsigned char *im = images->bytes, *lb = labels->bytes;
    size_t ni = images->size, nl = labels->size;
    if (compress) {
        ni = gzip(im, ni, zi, sizeof zi);
        nl = gzip(lb, nl, zl, sizeof zl);
        im = zi;
        lb = zl;
    }
    buffer seed = {.size = 0};
    uint32_t n = (uint32_t)ni;
    put(&seed, &n, 4); /* little-endian on the machines tapegrad fuzzes on */
    put(&seed, im, ni);
    put(&seed, lb, nl);
    write_bytes(idx_dir, name, seed.bytes, seed.size);
}

static void idx_seeds(void) {
    buffer images, labels;
    unsigned char body[1024];
    const unsigned char three_labels[3] = {0, 2, 1};
    idx_file(&labels, 0x08, 1, (uint32_t[]){3}, three_labels, 3);
    /* u8 [3,2,2] */
    for (int i = 0; i < 12; i++) body[i] = (unsigned char)(i * 21);
    idx_file(&images, 0x08, 3, (uint32_t[]){3, 2, 2}, body, 12);
    idx_seed("u8.bin", &images, &labels, false);
    idx_seed("u8_gzip.bin", &images, &labels, true);
    /* i8 [3,4], i16 [3,2], i32 [3,1], f32 [3,2], f64 [3,1] */
    for (int i = 0; i < 12; i++) body[i] = (unsigned char)(i * 37);
    idx_file(&images, 0x09, 2, (uint32_t[]){3, 4}, body, 12);
    idx_seed("i8.bin", &images, &labels, false);
    idx_file(&images, 0x0B, 2, (uint32_t[]){3, 2}, body, 12);
    idx_seed("i16.bin", &images, &labels, false);
    idx_file(&images, 0x0C, 2, (uint32_t[]){3, 1}, body, 12);
    idx_seed("i32.bin", &images, &labels, false);
    const unsigned char f32[24] = {0x3f, 0x80, 0, 0, 0xbf, 0xc0, 0, 0, 0x40, 0x49, 0x0f, 0xdb,
                                   0, 0, 0, 0,       0x80, 0, 0, 0,    0x3e, 0xaa, 0xaa, 0xab};
    idx_file(&images, 0x0D, 2, (uint32_t[]){3, 2}, f32, 24);
    idx_seed("f32.bin", &images, &labels, false);
    const unsigned char f64[24] = {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0x09, 0x21, 0xfb,
                                   0x54, 0x44, 0x2d, 0x18, 0, 0, 0, 0, 0, 0, 0, 1};
    idx_file(&images, 0x0E, 2, (uint32_t[]){3, 1}, f64, 24);
    idx_seed("f64.bin", &images, &labels, false);
    /* labels as i16, and an empty set */
    const unsigned char wide_labels[6] = {0, 0, 0, 7, 0, 3};
    idx_file(&labels, 0x0B, 1, (uint32_t[]){3}, wide_labels, 6);
    idx_file(&images, 0x08, 2, (uint32_t[]){3, 2}, body, 6);
    idx_seed("i16_labels.bin", &images, &labels, false);
    idx_file(&labels, 0x08, 1, (uint32_t[]){0}, body, 0);
    idx_file(&images, 0x08, 3, (uint32_t[]){0, 28, 28}, body, 0);
    idx_seed("empty.bin", &images, &labels, false);
    /* refused: no samples of an overflowing shape; samples of 8 dimensions */
    idx_file(&images, 0x08, 9, (uint32_t[]){0, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u}, body, 0);
    idx_seed("zero_samples_huge_shape.bin", &images, &labels, false);
    idx_file(&labels, 0x08, 1, (uint32_t[]){1}, three_labels, 1);
    idx_file(&images, 0x08, 9, (uint32_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, body, 1);
    idx_seed("nine_dims.bin", &images, &labels, false);
}

static void csv_seed(const char *name, unsigned char flags, const char *text, bool compress) {
    static unsigned char seed[16384], z[16384];
    size_t n = strlen(text);
    seed[0] = flags;
    if (compress) {
        n = gzip(text, n, z, sizeof z);
        memcpy(seed + 1, z, n);
    } else {
        memcpy(seed + 1, text, n);
    }
    write_bytes(csv_dir, name, seed, n + 1);
}

static void csv_seeds(void) {
    csv_seed("header.csv", 0x00, "x1,x2,label\n1.5,-2,0\n0.25,3e-2,1\n-0,.5,2\n", false);
    csv_seed("no_header.csv", 0x01, "1,2,3\n4,5,6\n", false);
    csv_seed("quoted_crlf.csv", 0x02, "\"a\",\"b \"\"q\"\"\",c\r\n\"1\", 2 ,0\r\n\r\n3,4,1\r\n", false);
    csv_seed("regression_first.csv", 0x14, "y,x\n0.5,1\n-1.25,2\n1e300,3\n", false);
    csv_seed("semicolon.csv", 0x08, "a;b;c\n1;2;1\n3;4;0\n", false);
    csv_seed("classes_given.csv", 0x41, "1,2,4\n3,4,0\n", false);
    csv_seed("second_column.csv", 0x21, "9,1,8\n7,0,6\n", false);
    csv_seed("gzip.csv", 0x00, "a,b,label\n1,2,0\n3,4,1\n5,6,0\n", true);
    csv_seed("bad_cell.csv", 0x00, "a,b,label\n1,2x,0\n", false);
}


int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seeds DIR (writes DIR/checkpoint, DIR/idx, DIR/csv)\n");
        return 2;
    }
    snprintf(checkpoint_dir, sizeof checkpoint_dir, "%s/checkpoint", argv[1]);
    snprintf(idx_dir, sizeof idx_dir, "%s/idx", argv[1]);
    snprintf(csv_dir, sizeof csv_dir, "%s/csv", argv[1]);
    mkdir(argv[1], 0755);
    mkdir(checkpoint_dir, 0755);
    mkdir(idx_dir, 0755);
    mkdir(csv_dir, 0755);
    checkpoint_seeds();
    idx_seeds();
    csv_seeds();
    return 0;
}
