/* libFuzzer target: IDX data sets (MNIST's format), plain or gzip, through
 * tg_read_memory and tg_idx_parse, the parsers behind tg_dataset_idx.
 * Input: a little-endian u32 n, then n bytes of the images file, then the
 * labels file (each may be gzip). Checks the promises, not only "no crash":
 *   - a refused pair gives a non-zero status and a message;
 *   - an accepted one holds exactly the files' samples: N, the sample shape,
 *     every label, and every value gathered onto a tape equals the element in
 *     the file (u8: byte / 255; i8, i16, i32, f32, f64 as they are), decoded
 *     here independently of data/idx.c.
 *
 *   build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTG_FUZZ=ON
 *   run:   sh tools/fuzz.sh (seed corpus tests/fuzz/corpus/idx, dictionary tests/fuzz/idx.dict) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loaders.h"
#include "tapegrad.h"
#include "tests/fuzz/fuzzing.h"

enum { MAX_INFLATED = 1 << 24 }; /* bytes out of gzip: bounds a decompression bomb */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Element i of an IDX body of element type `type`, as a double. */
static double element(int type, const unsigned char *body, int64_t i) {
    const unsigned char *p;
    switch (type) {
    case 0x08: return body[i];
    case 0x09: return (double)(int8_t)body[i];
    case 0x0B: p = body + 2 * i; return (double)(int16_t)(uint16_t)((unsigned)p[0] << 8 | p[1]);
    case 0x0C: return (double)(int32_t)be32(body + 4 * i);
    case 0x0D: {
        uint32_t bits = be32(body + 4 * i);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    default: {
        uint64_t bits = (uint64_t)be32(body + 8 * i) << 32 | be32(body + 8 * i + 4);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    }
}

/* An accepted data set against the (inflated) files it came from. */
static void check_dataset(const tg_dataset *ds, const tg_bytes *images, const tg_bytes *labels) {
    const unsigned char *im = images->data, *lb = labels->data;
    int type = im[2], ndim = im[3], label_type = lb[2];
    int64_t n = be32(im + 4);
    CHECK(tg_dataset_len(ds) == n);
    CHECK(tg_dataset_task(ds) == TG_TASK_CLASSIFICATION);
    int64_t shape[TG_MAX_DIMS], features = 1;
    CHECK(tg_dataset_sample_shape(ds, shape) == ndim - 1);
    for (int d = 1; d < ndim; d++) {
        CHECK(shape[d - 1] == be32(im + 4 + 4 * d));
        features *= shape[d - 1];
    }
    CHECK(tg_dataset_features(ds) == features);
    const unsigned char *body = im + 4 + 4 * ndim, *label_body = lb + 8;
    int64_t max_label = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t label = (int64_t)element(label_type, label_body, i);
        CHECK(tg_dataset_label(ds, i) == label);
        if (label > max_label) max_label = label;
    }
    CHECK(tg_dataset_classes(ds) == max_label + 1);
    if (n == 0 || features == 0 || n * features > (1 << 20)) return; /* values: small sets only */
    tg_tape *t = tg_tape_new();
    CHECK(t);
    tg_batch batch;
    CHECK(tg_dataset_gather(t, ds, TG_F64, n, NULL, &batch) == TG_OK);
    for (int64_t i = 0; i < n * features; i++) {
        double want = element(type, body, i), got = ((const double *)batch.x->data)[i];
        if (type == 0x08) want = want / 255;
        CHECK(type == 0x08 ? fabs(got - want) <= 1e-15 : got == want);
    }
    for (int64_t i = 0; i < n; i++) CHECK(batch.labels[i] == tg_dataset_label(ds, i));
    tg_tape_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t split = 0;
    if (size >= 4) {
        split = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
        data += 4;
        size -= 4;
        if (split > size) split = size;
    }
    tg_bytes images = {0}, labels = {0};
    tg_set_error(TG_OK, "%s", "");
    if (tg_read_memory("fuzz_idx", "images", data, split, MAX_INFLATED, &images) ||
        tg_read_memory("fuzz_idx", "labels", data + split, size - split, MAX_INFLATED, &labels)) {
        CHECK(tg_last_status() != TG_OK && tg_last_error()[0]);
        free(images.data);
        return 0;
    }
    /* copies for the check (the parser takes the bytes and frees them) */
    tg_bytes images_copy = images, labels_copy = labels;
    images_copy.data = malloc(images.size ? images.size : 1);
    labels_copy.data = malloc(labels.size ? labels.size : 1);
    CHECK(images_copy.data && labels_copy.data);
    if (images.size) memcpy(images_copy.data, images.data, images.size);
    if (labels.size) memcpy(labels_copy.data, labels.data, labels.size);
    tg_set_error(TG_OK, "%s", "");
    tg_dataset *ds = tg_idx_parse("fuzz_idx", "fuzz", "images", images, "labels", labels, 0, NULL);
    if (!ds) {
        CHECK(tg_last_status() != TG_OK && tg_last_error()[0]);
    } else {
        check_dataset(ds, &images_copy, &labels_copy);
        tg_dataset_free(ds);
    }
    free(images_copy.data);
    free(labels_copy.data);
    return 0;
}
