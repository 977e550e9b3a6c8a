/* Winograd F(2x2, 3x3) convolutions (see ops/conv_winograd.h). */
#include "ops/conv_winograd.h"

#include <stdbool.h>
#include <string.h>

#include "ops/gemm.h"

/* Channels per group below which im2col's single GEMM (depth Cin/G 9) wins
 * over 16 thin ones (depth Cin/G). */
#define MIN_CHANNELS 8
/* Tiles of a row transformed at once (a multiple of the vector width; the
 * shuffles of conv_winograd_body.h are written for 8). */
#define LANES 8
#define EVENS 0, 2, 4, 6, 8, 10, 12, 14 /* of two vectors of LANES */
#define ODDS 1, 3, 5, 7, 9, 11, 13, 15
/* k over [0, n), n a multiple of LANES, in blocks of LANES: each block one
 * vector step (a row of a small image has too few tiles for a loop of
 * unknown length to reach its vector part) */
#define FOR_LANES(k, n) \
    for (int64_t k##_block = 0; k##_block < (n); k##_block += LANES) \
        for (int64_t k = k##_block; k < k##_block + LANES; k++)
/* Bytes of transformed tiles (V and M) per chunk of images: they stay in L2. */
#define CHUNK_BYTES (640 << 10)
/* The weight gradient sums at most this many slots of images (fixed by the
 * batch size alone: the same sum for any thread count). */
#define MAX_SLOTS 16

/* One call: the convolution as Winograd runs it, input [batch, cin, h, w] ->
 * output [batch, cout, oh, ow] (oh = h + 2 pad_h - 2), its workspace and tensors. */
typedef struct {
    int64_t batch, groups, cin, cout, cin_g, cout_g, h, w, oh, ow, pad_h, pad_w;
    int64_t tiles_h, tiles_w, tiles;             /* 2x2 output tiles per image */
    int64_t chunk_images, chunks, chunk_tiles;   /* images transformed together */
    int64_t slots, slot_images;                  /* weight gradient: partial sums */
    int64_t lanes_w;                             /* tiles_w rounded up to LANES: tiles transformed at once */
    int64_t ld;                                  /* row length of V, M, G' (chunk_tiles + LANES of slack) */
    int64_t padded_w;                            /* 2 lanes_w + LANES: a padded input row (transform_inputs) */
    size_t v_bytes, m_bytes, lines_bytes, product_bytes, worker_bytes;
    int workers;
    const void *in, *grad, *bias, *filters;     /* filters: U [16, cout, cin_g] */
    void *out, *partial;                         /* partial: [slots, 16, cout, cin_g] */
} wino_plan;

#define T float
#define FN(name) name##_f32
#define GEMM tg_gemm_f32
#include "ops/conv_winograd_body.h"
#undef T
#undef FN
#undef GEMM

#define T double
#define FN(name) name##_f64
#define GEMM tg_gemm_f64
#include "ops/conv_winograd_body.h"
#undef T
#undef FN
#undef GEMM

bool tg_winograd_fits(const tg_conv_geometry *g) {
    return g->kernel[0] == 3 && g->kernel[1] == 3 && g->stride[0] == 1 && g->stride[1] == 1 && g->dilation[0] == 1 &&
           g->dilation[1] == 1 && g->padding[0] <= 2 && g->padding[1] <= 2 &&
           g->in_channels / g->groups >= MIN_CHANNELS && g->out_channels / g->groups >= MIN_CHANNELS;
}

typedef enum { FORWARD, WEIGHT } wino_kind;

/* The plan of a Winograd convolution of input [batch, cin, h, w] with padding (pad_h, pad_w). */
static void plan_make(wino_plan *pl, tg_dtype dtype, wino_kind kind, int64_t batch, int64_t groups, int64_t cin,
                      int64_t h, int64_t w, int64_t cout, int64_t pad_h, int64_t pad_w) {
    size_t es = tg_dtype_size(dtype);
    *pl = (wino_plan){.batch = batch, .groups = groups, .cin = cin, .cout = cout, .cin_g = cin / groups,
                      .cout_g = cout / groups, .h = h, .w = w, .pad_h = pad_h, .pad_w = pad_w};
    pl->oh = h + 2 * pad_h - 2;
    pl->ow = w + 2 * pad_w - 2;
    pl->tiles_h = (pl->oh + 1) / 2;
    pl->tiles_w = (pl->ow + 1) / 2;
    pl->tiles = pl->tiles_h * pl->tiles_w;
    size_t per_image = 16 * es * (size_t)((cin + cout) * pl->tiles);
    pl->chunk_images = per_image ? (int64_t)(CHUNK_BYTES / per_image) : batch;
    if (pl->chunk_images < 1) pl->chunk_images = 1;
    if (pl->chunk_images > batch) pl->chunk_images = batch > 0 ? batch : 1;
    pl->chunks = (batch + pl->chunk_images - 1) / pl->chunk_images;
    pl->chunk_tiles = pl->chunk_images * pl->tiles;
    /* multiply-adds of the 16 GEMMs */
    double work = 16.0 * (double)batch * (double)pl->tiles * (double)(cout * pl->cin_g);
    int64_t items = pl->chunks;
    size_t gemm_bytes = tg_gemm_scratch_bytes(dtype, pl->cout_g, pl->chunk_tiles, pl->cin_g);
    if (kind == WEIGHT) {
        pl->slots = batch > 1 && work >= 1e6 ? (batch < MAX_SLOTS ? batch : MAX_SLOTS) : 1;
        pl->slot_images = (batch + pl->slots - 1) / pl->slots;
        pl->slots = (batch + pl->slot_images - 1) / pl->slot_images;
        items = pl->slots;
        gemm_bytes = tg_gemm_scratch_bytes(dtype, pl->cout_g, pl->cin_g, pl->chunk_tiles);
        pl->product_bytes = tg_conv_align(16 * es * (size_t)(cout * pl->cin_g));
    }
    pl->workers = tg_conv_workers(items, work);
    pl->lanes_w = (pl->tiles_w + LANES - 1) / LANES * LANES;
    pl->ld = pl->chunk_tiles + LANES;
    pl->padded_w = 2 * pl->lanes_w + LANES;
    pl->v_bytes = tg_conv_align(16 * es * (size_t)(cin * pl->ld));
    pl->m_bytes = tg_conv_align(16 * es * (size_t)(cout * pl->ld));
    /* transform_inputs: a padded plane's rows; transform_outputs: 2 rows and
     * 8 halves; transform_grads needs less */
    size_t lines = (size_t)((2 * pl->tiles_h + 2) * pl->padded_w), out_lines = (size_t)(12 * pl->lanes_w);
    pl->lines_bytes = tg_conv_align(es * (lines > out_lines ? lines : out_lines));
    pl->worker_bytes = pl->v_bytes + pl->m_bytes + pl->lines_bytes + pl->product_bytes + tg_conv_align(gemm_bytes);
}

/* Transforms the filters into the scratch buffer's head, then runs the chunks. */
static tg_status run_forward(tg_tape *t, wino_plan *pl, tg_dtype dtype, const void *w, bool transposed) {
    size_t filter_bytes = tg_conv_align(16 * tg_dtype_size(dtype) * (size_t)(pl->cout * pl->cin_g));
    char *scratch = tg_tape_scratch(t, filter_bytes + (size_t)pl->workers * pl->worker_bytes);
    if (!scratch) return tg_tape_status(t);
    if (dtype == TG_F32)
        transform_filters_f32(pl, w, transposed, (float *)scratch);
    else
        transform_filters_f64(pl, w, transposed, (double *)scratch);
    pl->filters = scratch;
    tg_conv_split(pl, pl->chunks, 1, pl->workers, pl->worker_bytes, scratch + filter_bytes,
                  dtype == TG_F32 ? forward_chunks_f32 : forward_chunks_f64);
    return TG_OK;
}

tg_status tg_winograd_forward(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x, const void *w,
                              const void *bias, void *y) {
    wino_plan pl;
    plan_make(&pl, dtype, FORWARD, g->batch, g->groups, g->in_channels, g->height, g->width, g->out_channels,
              g->padding[0], g->padding[1]);
    pl.in = x, pl.bias = bias, pl.out = y;
    return run_forward(t, &pl, dtype, w, false);
}

/* The transposed convolution y -> x is a convolution of y with the flipped
 * filters, channels swapped, padding 2 - pad: its output is x's size. */
tg_status tg_winograd_transpose(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *y,
                                const void *w, const void *bias, void *x) {
    wino_plan pl;
    plan_make(&pl, dtype, FORWARD, g->batch, g->groups, g->out_channels, g->out_height, g->out_width, g->in_channels,
              2 - g->padding[0], 2 - g->padding[1]);
    pl.in = y, pl.bias = bias, pl.out = x;
    return run_forward(t, &pl, dtype, w, true);
}

tg_status tg_winograd_weight(tg_tape *t, const tg_conv_geometry *g, tg_dtype dtype, const void *x,
                             const void *grad_y, void *dw) {
    wino_plan pl;
    plan_make(&pl, dtype, WEIGHT, g->batch, g->groups, g->in_channels, g->height, g->width, g->out_channels,
              g->padding[0], g->padding[1]);
    int64_t filters = g->out_channels * pl.cin_g;
    if (g->batch == 0) {
        memset(dw, 0, tg_dtype_size(dtype) * (size_t)(filters * 9));
        return TG_OK;
    }
    size_t partial_bytes = tg_conv_align(16 * tg_dtype_size(dtype) * (size_t)(pl.slots * filters));
    char *scratch = tg_tape_scratch(t, partial_bytes + (size_t)pl.workers * pl.worker_bytes);
    if (!scratch) return tg_tape_status(t);
    pl.in = x, pl.grad = grad_y, pl.out = dw, pl.partial = scratch;
    tg_conv_split(&pl, pl.slots, 1, pl.workers, pl.worker_bytes, scratch + partial_bytes,
                  dtype == TG_F32 ? weight_slots_f32 : weight_slots_f64);
    int64_t size = 16 * filters;
    if (pl.slots > 1)
        tg_conv_split(&pl, size, 8192, tg_conv_workers(size, (double)size * (double)pl.slots * 16), 0, NULL,
                      dtype == TG_F32 ? sum_slots_f32 : sum_slots_f64);
    tg_conv_split(&pl, filters, 256, tg_conv_workers(filters, (double)filters * 256), 0, NULL,
                  dtype == TG_F32 ? weight_finish_f32 : weight_finish_f64);
    return TG_OK;
}
