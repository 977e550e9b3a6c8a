/* libFuzzer target: checkpoint files (tg_checkpoint_parse, and loading into
 * a store as tg_params_load does). Checks the promises, not only "no crash":
 *   - a refused file gives a non-zero status and a message;
 *   - an accepted file round-trips bit-exactly (its bytes written again are
 *     the input, for a version-2 file; for version 1 writing is idempotent);
 *   - a failed load leaves the store unchanged (values and versions), a
 *     successful one makes the store's tensors equal to the file's records;
 *   - loading into an empty store creates everything or nothing.
 * Each input is tried as it is and with its checksum recomputed, so that
 * mutations reach the record parser instead of stopping at the checksum.
 *
 *   build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTG_FUZZ=ON
 *   run:   sh tools/fuzz.sh (seed corpus tests/fuzz/corpus/checkpoint,
 *          dictionary tests/fuzz/checkpoint.dict) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tapegrad.h"
#include "tests/fuzz/fuzzing.h"

/* The store the fuzzer loads into: the model of the seed corpus. */
static tg_params *fuzz_store(void) {
    tg_params *p = tg_params_new();
    CHECK(p);
    CHECK(tg_param(p, "w", TG_F32, 2, (int64_t[]){2, 3}, TG_INIT_ONES, NULL));
    CHECK(tg_param(p, "b", TG_F32, 1, (int64_t[]){3}, TG_INIT_ZEROS, NULL));
    CHECK(tg_buffer(p, "bn.running_mean", TG_F64, 1, (int64_t[]){3}, TG_INIT_ONES, NULL));
    return p;
}

/* Hash of every tensor's bytes and version, in order. */
static uint64_t fingerprint(const tg_params *p) {
    uint64_t h = (uint64_t)tg_params_count(p);
    for (int i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *x = tg_params_at(p, i);
        h = h * 31 + tg_tensor_hash(x);
        h = h * 31 + x->version;
    }
    return h;
}

static bool is_store_record(const tg_record *r) { return r->kind == TG_RECORD_PARAM || r->kind == TG_RECORD_BUFFER; }

static bool equals_record(const tg_tensor *x, const tg_record *r) {
    return x->dtype == r->dtype && x->ndim == r->ndim && (size_t)x->numel * tg_dtype_size(x->dtype) == r->bytes &&
           memcmp(x->shape, r->shape, sizeof(int64_t) * (size_t)r->ndim) == 0 &&
           (r->bytes == 0 || memcmp(x->data, r->data, r->bytes) == 0);
}

static void check_refused(void) {
    CHECK(tg_last_status() != TG_OK);
    CHECK(tg_last_error()[0] != '\0');
}

/* Load c into the fuzz store (strict or not): all or nothing. */
static void check_load_into_model(const tg_checkpoint *c, bool strict) {
    tg_params *p = fuzz_store();
    uint64_t before = fingerprint(p);
    tg_load_report report;
    tg_set_error(TG_OK, "%s", "");
    tg_status st = tg_params_load_checkpoint(p, c, strict, &report);
    if (st) {
        check_refused();
        CHECK(fingerprint(p) == before);
    } else {
        CHECK(tg_params_count(p) == 3);
        for (int i = 0; i < tg_params_count(p); i++) {
            const tg_tensor *x = tg_params_at(p, i);
            const tg_record *r = tg_checkpoint_find(c, x->name);
            if (r && is_store_record(r))
                CHECK(equals_record(x, r) && (int)r->kind == (int)x->kind);
            else
                CHECK(!strict); /* a strict load needs every name */
        }
        CHECK(report.loaded + report.missing == 3);
    }
    tg_params_free(p);
}

/* Load c into an empty store: every tensor record created, or none. */
static void check_load_into_empty_store(const tg_checkpoint *c) {
    tg_params *p = tg_params_new();
    CHECK(p);
    tg_set_error(TG_OK, "%s", "");
    tg_status st = tg_params_load_checkpoint(p, c, true, NULL);
    if (st) {
        check_refused();
        CHECK(tg_params_count(p) == 0);
    } else {
        int records = 0;
        for (int i = 0; i < tg_checkpoint_count(c); i++) {
            const tg_record *r = tg_checkpoint_at(c, i);
            if (!is_store_record(r)) continue;
            records++;
            const tg_tensor *x = tg_params_get(p, r->name);
            CHECK(x && equals_record(x, r));
        }
        CHECK(tg_params_count(p) == records);
        /* and the store saved again holds the same records */
        tg_checkpoint *again = tg_checkpoint_new();
        CHECK(again && tg_checkpoint_add_params(again, p) == TG_OK);
        void *bytes;
        size_t size;
        CHECK(tg_checkpoint_to_bytes(again, &bytes, &size) == TG_OK);
        tg_checkpoint *back = tg_checkpoint_parse(bytes, size, "saved again");
        CHECK(back && tg_checkpoint_count(back) == records);
        for (int i = 0; i < records; i++) {
            const tg_record *r = tg_checkpoint_at(back, i);
            CHECK(equals_record(tg_params_get(p, r->name), r));
        }
        tg_checkpoint_free(back);
        free(bytes);
        tg_checkpoint_free(again);
    }
    tg_params_free(p);
}

static void check_bytes(const uint8_t *data, size_t size) {
    tg_set_error(TG_OK, "%s", "");
    tg_checkpoint *c = tg_checkpoint_parse(data, size, "fuzz input");
    if (!c) {
        check_refused();
        CHECK(tg_last_status() == TG_ERR_FORMAT || tg_last_status() == TG_ERR_NOMEM);
        return;
    }
    /* round trip: written again, the bytes are the input (version 2) */
    void *bytes;
    size_t n;
    CHECK(tg_checkpoint_to_bytes(c, &bytes, &n) == TG_OK);
    uint32_t version;
    memcpy(&version, data + 8, sizeof version);
    if (version == 2) {
        CHECK(n == size && memcmp(bytes, data, size) == 0);
    } else { /* version 1 is rewritten as version 2: then stable */
        tg_checkpoint *c2 = tg_checkpoint_parse(bytes, n, "rewritten");
        CHECK(c2 && tg_checkpoint_count(c2) == tg_checkpoint_count(c));
        void *bytes2;
        size_t n2;
        CHECK(tg_checkpoint_to_bytes(c2, &bytes2, &n2) == TG_OK);
        CHECK(n2 == n && memcmp(bytes2, bytes, n) == 0);
        free(bytes2);
        tg_checkpoint_free(c2);
    }
    free(bytes);
    check_load_into_model(c, true);
    check_load_into_model(c, false);
    check_load_into_empty_store(c);
    tg_checkpoint_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_bytes(data, size);
    if (size >= 8 + 8 + 8) { /* the same with a valid checksum */
        uint8_t *fixed = malloc(size);
        CHECK(fixed);
        memcpy(fixed, data, size);
        uint64_t digest = XXH3_64bits(fixed, size - 8);
        memcpy(fixed + size - 8, &digest, 8);
        check_bytes(fixed, size);
        free(fixed);
    }
    return 0;
}
