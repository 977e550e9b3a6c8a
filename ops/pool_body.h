/* The pooling kernels of ops/pool.c for one element type, one (n, c) plane
 * per call, written once: pool.c includes this file twice after defining
 *   T          element type (float, double)
 *   FN(name)   name##_f32 / name##_f64
 * No include guard on purpose. */

/* One tap of the windows of outputs [0, n) of a row: with v = x[h W + j s + offset],
 * where that column is inside x, best[j] <- v if larger (or NaN), where[j] <- its
 * index. Selects, not branches (the data is random), over contiguous j: the
 * compiler vectorizes it; a constant stride lets it load without gathers and
 * find the columns inside x without dividing. */
#define MAX_TAP(NAME, STRIDE)                                                                              \
    static inline void NAME(const T *restrict x, int64_t h, int64_t width, int64_t offset, int64_t s,         \
                            int64_t n, T *restrict best, int32_t *restrict where) {                        \
        (void)s;                                                                                           \
        int64_t j0, j1;                                                                                    \
        tap_range(offset, (STRIDE), width, n, &j0, &j1);                                                   \
        int64_t base = h * width + offset;                                                                 \
        for (int64_t j = j0; j < j1; j++) {                                                                \
            T v = x[base + j * (STRIDE)];                                                                  \
            bool take = v > best[j] || v != v;                                                             \
            best[j] = take ? v : best[j];                                                                  \
            where[j] = take ? (int32_t)(base + j * (STRIDE)) : where[j];                                   \
        }                                                                                                  \
    }
MAX_TAP(FN(max_tap_1), 1)
MAX_TAP(FN(max_tap_2), 2)
MAX_TAP(FN(max_tap_any), s)
#undef MAX_TAP

/* y[i][j] = max of x over window (i, j); arg[i][j] = its index h W + w in the
 * plane (arg may be NULL). Taps in row-major window order with a strict >,
 * so the first maximum wins; a NaN always takes over (PyTorch's rule); an
 * all -inf window points at its first element. One output row at a time,
 * tap by tap, in chunks of POOL_CHUNK outputs. */
static void FN(max_plane)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    int64_t H = at->height, W = at->width, OH = at->out_height, OW = at->out_width;
    int64_t s0 = at->stride[0], s1 = at->stride[1], pad1 = at->padding[1];
    const T *x = (const T *)in + plane * H * W;
    T *y = (T *)out + plane * OH * OW;
    if (arg) arg += plane * OH * OW;
    T best[POOL_CHUNK];
    int32_t where[POOL_CHUNK];
    for (int64_t i = 0; i < OH; i++) {
        int64_t h0, h1;
        window(i, s0, at->padding[0], at->kernel[0], H, &h0, &h1);
        for (int64_t c0 = 0; c0 < OW; c0 += POOL_CHUNK) {
            int64_t n = OW - c0 < POOL_CHUNK ? OW - c0 : POOL_CHUNK;
            for (int64_t j = 0; j < n; j++) {
                int64_t w0 = (c0 + j) * s1 - pad1;
                best[j] = -(T)INFINITY;
                where[j] = (int32_t)(h0 * W + (w0 < 0 ? 0 : w0));
            }
            for (int64_t h = h0; h < h1; h++)
                for (int64_t q = 0; q < at->kernel[1]; q++) {
                    int64_t offset = q - pad1 + c0 * s1; /* x column of output c0 + j: j s1 + offset */
                    if (s1 == 1)
                        FN(max_tap_1)(x, h, W, offset, s1, n, best, where);
                    else if (s1 == 2)
                        FN(max_tap_2)(x, h, W, offset, s1, n, best, where);
                    else
                        FN(max_tap_any)(x, h, W, offset, s1, n, best, where);
                }
            memcpy(y + i * OW + c0, best, sizeof(T) * (size_t)n);
            if (arg) memcpy(arg + i * OW + c0, where, sizeof(int32_t) * (size_t)n);
        }
    }
}

/* max_plane for the common window, 2x2 with stride 2 and no padding: output
 * (i, j) reads x[2i][2j], x[2i][2j+1], x[2i+1][2j], x[2i+1][2j+1], all inside
 * x, in that order, with max_plane's rule (its first tap always takes: best
 * starts at -inf, where at that element). Rows of a CNN's planes are short
 * (14 or 7 outputs), too short for vector loops over one row: blocks of whole
 * output rows (plan_blocks: about POOL_CHUNK / 2 outputs) copy the top and
 * the bottom input rows of each end to end, so that output k of the block reads
 * top[2k], top[2k + 1], bottom[2k], bottom[2k + 1] in one loop over the
 * block. The comparisons are | of both, not ||: no branch on random data. */
static void FN(max_plane_2x2)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    int64_t H = at->height, W = at->width, OH = at->out_height, OW = at->out_width;
    const T *x = (const T *)in + plane * H * W;
    T *y = (T *)out + plane * OH * OW;
    if (arg) arg += plane * OH * OW;
    int64_t rows = at->block_rows;
    const int32_t *first = at->block_first;
    T top[POOL_CHUNK], bottom[POOL_CHUNK];
    for (int64_t i0 = 0; i0 < OH; i0 += rows) {
        int64_t block = OH - i0 < rows ? OH - i0 : rows, n = block * OW;
        const T *restrict r0, *restrict r1;
        if (first) {
            for (int64_t p = 0; p < block; p++) {
                memcpy(top + 2 * p * OW, x + (2 * (i0 + p)) * W, sizeof(T) * (size_t)(2 * OW));
                memcpy(bottom + 2 * p * OW, x + (2 * (i0 + p) + 1) * W, sizeof(T) * (size_t)(2 * OW));
            }
            r0 = top, r1 = bottom;
        } else { /* one long row: read in place */
            r0 = x + 2 * i0 * W, r1 = r0 + W;
        }
        T *restrict yb = y + i0 * OW;
        if (!arg) {
            for (int64_t k = 0; k < n; k++) {
                T best = r0[2 * k], v1 = r0[2 * k + 1], v2 = r1[2 * k], v3 = r1[2 * k + 1];
                best = ((v1 > best) | (v1 != v1)) ? v1 : best;
                best = ((v2 > best) | (v2 != v2)) ? v2 : best;
                yb[k] = ((v3 > best) | (v3 != v3)) ? v3 : best;
            }
            continue;
        }
        int32_t *restrict ab = arg + i0 * OW, base = (int32_t)(2 * i0 * W), below = (int32_t)W;
        for (int64_t k = 0; k < n; k++) {
            T best = r0[2 * k], v1 = r0[2 * k + 1], v2 = r1[2 * k], v3 = r1[2 * k + 1];
            int32_t at0 = base + (first ? first[k] : 2 * (int32_t)k), where = at0;
            bool take = (v1 > best) | (v1 != v1);
            best = take ? v1 : best;
            where = take ? at0 + 1 : where;
            take = (v2 > best) | (v2 != v2);
            best = take ? v2 : best;
            where = take ? at0 + below : where;
            take = (v3 > best) | (v3 != v3);
            yb[k] = take ? v3 : best;
            ab[k] = take ? at0 + below + 1 : where;
        }
    }
}

/* scatter_plane for max_plane_2x2's windows, which do not overlap: each x
 * is written once, 0 + y[k] at the output's saved position and 0 at the
 * window's other three (and in a last odd row or column no window covers):
 * scatter_plane's values without its zeroing pass and scattered adds. Whole
 * output rows a block at a time, as in max_plane_2x2. */
static void FN(scatter_plane_2x2)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    int64_t H = at->height, W = at->width, OH = at->out_height, OW = at->out_width;
    const T *g = (const T *)in + plane * OH * OW;
    T *x = (T *)out + plane * H * W;
    const int32_t *a = arg + plane * OH * OW;
    if (H > 2 * OH) memset(x + 2 * OH * W, 0, sizeof(T) * (size_t)((H - 2 * OH) * W));
    int64_t rows = at->block_rows;
    const int32_t *first = at->block_first;
    T top[POOL_CHUNK], bottom[POOL_CHUNK];
    for (int64_t i0 = 0; i0 < OH; i0 += rows) {
        int64_t block = OH - i0 < rows ? OH - i0 : rows, n = block * OW;
        T *restrict r0 = first ? top : x + 2 * i0 * W, *restrict r1 = first ? bottom : x + (2 * i0 + 1) * W;
        const T *restrict gb = g + i0 * OW;
        const int32_t *restrict ab = a + i0 * OW;
        int32_t base = (int32_t)(2 * i0 * W), below = (int32_t)W;
        for (int64_t k = 0; k < n; k++) {
            int32_t tap = ab[k] - base - (first ? first[k] : 2 * (int32_t)k); /* 0, 1, W or W + 1 */
            T v = (T)0 + gb[k];
            r0[2 * k] = tap == 0 ? v : (T)0;
            r0[2 * k + 1] = tap == 1 ? v : (T)0;
            r1[2 * k] = tap == below ? v : (T)0;
            r1[2 * k + 1] = tap == below + 1 ? v : (T)0;
        }
        for (int64_t p = 0; p < block; p++) {
            T *row = x + 2 * (i0 + p) * W;
            if (first) {
                memcpy(row, top + 2 * p * OW, sizeof(T) * (size_t)(2 * OW));
                memcpy(row + W, bottom + 2 * p * OW, sizeof(T) * (size_t)(2 * OW));
            }
            if (W > 2 * OW) row[W - 1] = row[2 * W - 1] = 0;
        }
    }
}

/* y[k] = x[arg[k]]: the max pool at saved positions */
static void FN(gather_plane)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    int64_t size = at->out_height * at->out_width;
    const T *x = (const T *)in + plane * at->height * at->width;
    T *y = (T *)out + plane * size;
    const int32_t *a = arg + plane * size;
    for (int64_t k = 0; k < size; k++) y[k] = x[a[k]];
}

/* x = 0, then x[arg[k]] += y[k] in k order: the adjoint of gather_plane */
static void FN(scatter_plane)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    int64_t size = at->out_height * at->out_width;
    const T *y = (const T *)in + plane * size;
    T *x = (T *)out + plane * at->height * at->width;
    const int32_t *a = arg + plane * size;
    memset(x, 0, sizeof(T) * (size_t)(at->height * at->width));
    for (int64_t k = 0; k < size; k++) x[a[k]] += y[k];
}

/* y[i][j] = sum of x over window (i, j) / (kH kW) */
static void FN(avg_plane)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    (void)arg;
    int64_t H = at->height, W = at->width, OH = at->out_height, OW = at->out_width;
    const T *x = (const T *)in + plane * H * W;
    T *y = (T *)out + plane * OH * OW;
    T divisor = (T)(at->kernel[0] * at->kernel[1]);
    for (int64_t i = 0; i < OH; i++) {
        int64_t h0, h1;
        window(i, at->stride[0], at->padding[0], at->kernel[0], H, &h0, &h1);
        for (int64_t j = 0; j < OW; j++) {
            int64_t w0, w1;
            window(j, at->stride[1], at->padding[1], at->kernel[1], W, &w0, &w1);
            T sum = 0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) sum += x[h * W + w];
            y[i * OW + j] = sum / divisor;
        }
    }
}

/* x = 0, then every window adds y[i][j] / (kH kW) to its elements: the adjoint of avg_plane */
static void FN(avg_adjoint_plane)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    (void)arg;
    int64_t H = at->height, W = at->width, OH = at->out_height, OW = at->out_width;
    const T *y = (const T *)in + plane * OH * OW;
    T *x = (T *)out + plane * H * W;
    T divisor = (T)(at->kernel[0] * at->kernel[1]);
    memset(x, 0, sizeof(T) * (size_t)(H * W));
    for (int64_t i = 0; i < OH; i++) {
        int64_t h0, h1;
        window(i, at->stride[0], at->padding[0], at->kernel[0], H, &h0, &h1);
        for (int64_t j = 0; j < OW; j++) {
            int64_t w0, w1;
            window(j, at->stride[1], at->padding[1], at->kernel[1], W, &w0, &w1);
            T share = y[i * OW + j] / divisor;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) x[h * W + w] += share;
        }
    }
}
