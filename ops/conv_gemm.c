/* Convolutions as GEMMs: im2col / col2im around tg_gemm (see ops/conv_gemm.h). */
#include "ops/conv_gemm.h"

#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "core/parallel.h"
#include "ops/conv_winograd.h"
#include "ops/gemm.h"

/* Below this many multiply-adds a convolution runs on one thread (the GEMMs
 * then decide for themselves). */
#define PARALLEL_WORK ((double)(1 << 20))
/* The weight gradient sums at most this many chunks of images (fixed by the
 * batch size alone, so the sum is the same for any thread count). */
#define MAX_CHUNKS 16

/* One call: the shapes, the workspace, the tensors. */
typedef struct {
    const tg_conv_geometry *g;
    int64_t group_in, group_out; /* Cin/G, Cout/G */
    int64_t depth;               /* Cin/G kH kW: rows of im2col, the GEMMs' shared dimension */
    int64_t out_plane;           /* Hout Wout */
    bool pointwise;              /* 1x1 kernel, stride 1, no padding: x is its own im2col */
    size_t col_bytes, product_bytes, worker_bytes; /* each worker's workspace, 64-byte multiples */
    int workers;
    int64_t chunks, chunk_images; /* weight gradient: images summed per chunk */
    const void *in, *weight, *bias;
    void *out;
    void *partial; /* weight gradient: [chunks, Cout, Cin/G kH kW] */
} conv_plan;

#define valid_range tg_conv_valid_range

void tg_conv_valid_range(int64_t offset, int64_t stride, int64_t size, int64_t n, int64_t *lo, int64_t *hi) {
    int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t last = size - 1 - offset < 0 ? -1 : (size - 1 - offset) / stride; /* inclusive */
    *lo = first < n ? first : n;
    *hi = last + 1 < n ? last + 1 : n;
    if (*hi < *lo) *hi = *lo;
}

int tg_conv_workers(int64_t items, double work) {
    int threads = tg_get_num_threads();
    if (work < PARALLEL_WORK || threads < 2 || items < 2 || !tg_parallel_available()) return 1;
    return items < threads ? (int)items : threads;
}

void tg_conv_split(const void *job, int64_t count, int64_t grain, int workers, size_t worker_bytes, char *scratch,
                   tg_conv_range_fn fn) {
    if (workers <= 1) {
        fn(job, 0, count, scratch);
        return;
    }
    int64_t next = 0; /* the first item not claimed yet */
#pragma omp parallel num_threads(workers)
    {
        char *work = scratch ? scratch + (size_t)omp_get_thread_num() * worker_bytes : NULL;
        /* A team of one around each worker: tg_gemm's barriers bind to the
         * innermost team (on a small product it runs them outside any region
         * of its own), and its parallel regions get one thread even where
         * nesting is enabled. */
#pragma omp parallel num_threads(1)
        {
            omp_set_num_threads(1);
            for (;;) {
                int64_t first;
#pragma omp atomic capture
                {
                    first = next;
                    next += grain;
                }
                if (first >= count) break;
                fn(job, first, first + grain < count ? first + grain : count, work);
            }
        }
    }
}

#define T float
#define FN(name) name##_f32
#define GEMM tg_gemm_f32
#include "ops/conv_gemm_body.h"
#undef T
#undef FN
#undef GEMM

#define T double
#define FN(name) name##_f64
#define GEMM tg_gemm_f64
#include "ops/conv_gemm_body.h"
#undef T
#undef FN
#undef GEMM

typedef enum { FORWARD, TRANSPOSE, WEIGHT } conv_kind;

/* Derived sizes, the worker count and each worker's workspace for one call. */
static void plan_make(conv_plan *pl, const tg_conv_geometry *g, tg_dtype dtype, conv_kind kind) {
    size_t es = tg_dtype_size(dtype);
    *pl = (conv_plan){.g = g};
    pl->group_in = g->in_channels / g->groups;
    pl->group_out = g->out_channels / g->groups;
    pl->depth = pl->group_in * g->kernel[0] * g->kernel[1];
    pl->out_plane = g->out_height * g->out_width;
    pl->pointwise = g->kernel[0] == 1 && g->kernel[1] == 1 && g->stride[0] == 1 && g->stride[1] == 1 &&
                    g->padding[0] == 0 && g->padding[1] == 0;
    double macs = (double)g->batch * (double)g->out_channels * (double)pl->depth * (double)pl->out_plane;
    bool big = macs >= PARALLEL_WORK;
    int64_t items = g->batch;
    if (kind == WEIGHT) {
        pl->chunks = big && g->batch > 1 ? (g->batch < MAX_CHUNKS ? g->batch : MAX_CHUNKS) : 1;
        pl->chunk_images = pl->chunks ? (g->batch + pl->chunks - 1) / pl->chunks : 0;
        if (pl->chunk_images) pl->chunks = (g->batch + pl->chunk_images - 1) / pl->chunk_images;
        items = pl->chunks;
    }
    pl->workers = tg_conv_workers(items, macs);
    size_t gemm_bytes = kind == FORWARD     ? tg_gemm_scratch_bytes(dtype, pl->group_out, pl->out_plane, pl->depth)
                        : kind == TRANSPOSE ? tg_gemm_scratch_bytes(dtype, pl->depth, pl->out_plane, pl->group_out)
                                            : tg_gemm_scratch_bytes(dtype, pl->group_out, pl->depth, pl->out_plane);
    pl->col_bytes = pl->pointwise ? 0 : tg_conv_align(es * (size_t)(pl->depth * pl->out_plane));
    pl->product_bytes = kind == WEIGHT ? tg_conv_align(es * (size_t)(pl->group_out * pl->depth)) : 0;
    pl->worker_bytes = pl->col_bytes + pl->product_bytes + tg_conv_align(gemm_bytes);
}

static char *plan_scratch(tg_tape *t, const conv_plan *pl, size_t extra) {
    return tg_tape_scratch(t, (size_t)pl->workers * pl->worker_bytes + extra);
}

/* out = the product of every image of `in` with w (+ bias), image by image */
static tg_status run_images(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, conv_kind kind, const void *in,
                            const void *w, const void *bias, void *out, tg_conv_range_fn f32, tg_conv_range_fn f64) {
    conv_plan pl;
    plan_make(&pl, g, dtype, kind);
    char *scratch = plan_scratch(t, &pl, 0);
    if (!scratch) return tg_tape_status(t);
    pl.in = in, pl.weight = w, pl.bias = bias, pl.out = out;
    tg_conv_split(&pl, g->batch, 1, pl.workers, pl.worker_bytes, scratch, dtype == TG_F32 ? f32 : f64);
    return TG_OK;
}

tg_status tg_conv_gemm_forward(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x, const void *w,
                               const void *bias, void *y) {
    if (tg_winograd_fits(g)) return tg_winograd_forward(t, g, dtype, x, w, bias, y);
    return run_images(t, g, dtype, FORWARD, x, w, bias, y, forward_images_f32, forward_images_f64);
}

tg_status tg_conv_gemm_transpose(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *y,
                                 const void *w, const void *bias, void *x) {
    if (tg_winograd_fits(g)) return tg_winograd_transpose(t, g, dtype, y, w, bias, x);
    return run_images(t, g, dtype, TRANSPOSE, y, w, bias, x, transpose_images_f32, transpose_images_f64);
}

tg_status tg_conv_gemm_weight(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x,
                              const void *grad_y, void *dw) {
    if (tg_winograd_fits(g)) return tg_winograd_weight(t, g, dtype, x, grad_y, dw);
    conv_plan pl;
    plan_make(&pl, g, dtype, WEIGHT);
    int64_t size = g->out_channels * pl.depth;
    size_t partial_bytes = pl.chunks > 1 ? tg_dtype_size(dtype) * (size_t)(pl.chunks * size) : 0;
    char *scratch = plan_scratch(t, &pl, partial_bytes);
    if (!scratch) return tg_tape_status(t);
    pl.in = x, pl.weight = grad_y, pl.out = dw, pl.partial = scratch + (size_t)pl.workers * pl.worker_bytes;
    tg_conv_split(&pl, pl.chunks, 1, pl.workers, pl.worker_bytes, scratch,
                  dtype == TG_F32 ? weight_chunks_f32 : weight_chunks_f64);
    if (pl.chunks > 1)
        tg_conv_split(&pl, size, 8192, tg_conv_workers(size, (double)pl.chunks * (double)size * 64), 0, NULL,
                      dtype == TG_F32 ? sum_chunks_f32 : sum_chunks_f64);
    return TG_OK;
}
