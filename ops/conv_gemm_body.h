/* The convolution kernels of ops/conv_gemm.c for one element type, written
 * once: conv_gemm.c includes this file twice after defining
 *   T          element type (float, double)
 *   FN(name)   name##_f32 / name##_f64
 *   GEMM       tg_gemm_f32 / tg_gemm_f64
 * No include guard on purpose. */

/* col[(c kH + p) kW + q][i Wout + j] = x[c][i s0 - pad0 + p d0][j s1 - pad1 + q d1], 0 outside x:
 * x [Cin/G, H, W] -> col [Cin/G kH kW, Hout Wout]. With stride 1 and
 * Wout = W (a "same" convolution) a row of col is x shifted by dh W + dw:
 * one long copy, then the columns that wrapped around are zeroed. */
static void FN(im2col)(const conv_plan *pl, const T *restrict x, T *restrict col) {
    const tg_conv_geometry *g = pl->g;
    int64_t H = g->height, W = g->width, OH = g->out_height, OW = g->out_width, s0 = g->stride[0],
            s1 = g->stride[1];
    bool shifted = s0 == 1 && s1 == 1 && OW == W;
    for (int64_t c = 0; c < pl->group_in; c++) {
        const T *plane = x + c * H * W;
        for (int64_t p = 0; p < g->kernel[0]; p++)
            for (int64_t q = 0; q < g->kernel[1]; q++, col += OH * OW) {
                int64_t dh = p * g->dilation[0] - g->padding[0], dw = q * g->dilation[1] - g->padding[1];
                int64_t i0, i1, j0, j1; /* the rows and columns of col that read inside x */
                valid_range(dh, s0, H, OH, &i0, &i1);
                valid_range(dw, s1, W, OW, &j0, &j1);
                for (int64_t m = 0; m < i0 * OW; m++) col[m] = 0;
                for (int64_t m = i1 * OW; m < OH * OW; m++) col[m] = 0;
                if (shifted) {
                    int64_t delta = dh * W + dw, lo = i0 * W, hi = i1 * W;
                    if (lo + delta < 0) lo = -delta; /* the skipped entries are wrapped columns */
                    if (hi + delta > H * W) hi = H * W - delta;
                    for (int64_t m = lo; m < hi; m++) col[m] = plane[m + delta];
                    for (int64_t i = i0; i < i1; i++) {
                        for (int64_t j = 0; j < j0; j++) col[i * W + j] = 0;
                        for (int64_t j = j1; j < W; j++) col[i * W + j] = 0;
                    }
                    continue;
                }
                for (int64_t i = i0; i < i1; i++) {
                    T *out = col + i * OW;
                    int64_t base = (i * s0 + dh) * W + dw; /* x column j s1 + dw of row i s0 + dh */
                    for (int64_t j = 0; j < j0; j++) out[j] = 0;
                    for (int64_t j = j0; j < j1; j++) out[j] = plane[base + j * s1];
                    for (int64_t j = j1; j < OW; j++) out[j] = 0;
                }
            }
    }
}

/* The adjoint of im2col: x[c][i s0 - pad0 + p d0][j s1 - pad1 + q d1] += col[(c kH + p) kW + q][i Wout + j]
 * (taps outside x dropped), in a fixed order. The shifted case zeroes the
 * wrapped columns of col (a workspace) and adds one long run. */
static void FN(col2im)(const conv_plan *pl, T *restrict col, T *restrict x) {
    const tg_conv_geometry *g = pl->g;
    int64_t H = g->height, W = g->width, OH = g->out_height, OW = g->out_width, s0 = g->stride[0],
            s1 = g->stride[1];
    bool shifted = s0 == 1 && s1 == 1 && OW == W;
    for (int64_t c = 0; c < pl->group_in; c++) {
        T *plane = x + c * H * W;
        for (int64_t p = 0; p < g->kernel[0]; p++)
            for (int64_t q = 0; q < g->kernel[1]; q++, col += OH * OW) {
                int64_t dh = p * g->dilation[0] - g->padding[0], dw = q * g->dilation[1] - g->padding[1];
                int64_t i0, i1, j0, j1;
                valid_range(dh, s0, H, OH, &i0, &i1);
                valid_range(dw, s1, W, OW, &j0, &j1);
                if (shifted) {
                    int64_t delta = dh * W + dw, lo = i0 * W, hi = i1 * W;
                    if (lo + delta < 0) lo = -delta;
                    if (hi + delta > H * W) hi = H * W - delta;
                    for (int64_t i = i0; i < i1; i++) {
                        for (int64_t j = 0; j < j0; j++) col[i * W + j] = 0;
                        for (int64_t j = j1; j < W; j++) col[i * W + j] = 0;
                    }
                    for (int64_t m = lo; m < hi; m++) plane[m + delta] += col[m];
                    continue;
                }
                for (int64_t i = i0; i < i1; i++) {
                    const T *in = col + i * OW;
                    int64_t base = (i * s0 + dh) * W + dw;
                    for (int64_t j = j0; j < j1; j++) plane[base + j * s1] += in[j];
                }
            }
    }
}

/* y[n] = W @ im2col(x[n]) + bias for images [n0, n1) */
static void FN(forward_images)(const void *job, int64_t n0, int64_t n1, char *work) {
    const conv_plan *pl = job;
    const tg_conv_geometry *g = pl->g;
    const T *x = pl->in, *w = pl->weight, *bias = pl->bias;
    T *y = pl->out, *col = (T *)work;
    void *gemm_scratch = work + pl->col_bytes;
    int64_t HW = g->height * g->width, OHW = pl->out_plane, K = pl->depth;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const T *xg = x + (n * g->in_channels + grp * pl->group_in) * HW;
            T *yg = y + (n * g->out_channels + grp * pl->group_out) * OHW;
            if (!pl->pointwise) FN(im2col)(pl, xg, col);
            GEMM(false, false, pl->group_out, OHW, K, w + grp * pl->group_out * K, K, pl->pointwise ? xg : col, OHW,
                 yg, OHW, gemm_scratch);
            if (bias)
                for (int64_t o = 0; o < pl->group_out; o++) {
                    T b = bias[grp * pl->group_out + o], *row = yg + o * OHW;
                    for (int64_t i = 0; i < OHW; i++) row[i] += b;
                }
        }
}

/* x[n] = col2im(W^T @ y[n]) + bias for images [n0, n1) */
static void FN(transpose_images)(const void *job, int64_t n0, int64_t n1, char *work) {
    const conv_plan *pl = job;
    const tg_conv_geometry *g = pl->g;
    const T *y = pl->in, *w = pl->weight, *bias = pl->bias;
    T *x = pl->out, *col = (T *)work;
    void *gemm_scratch = work + pl->col_bytes;
    int64_t HW = g->height * g->width, OHW = pl->out_plane, K = pl->depth;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const T *yg = y + (n * g->out_channels + grp * pl->group_out) * OHW;
            T *xg = x + (n * g->in_channels + grp * pl->group_in) * HW;
            if (pl->pointwise) {
                GEMM(true, false, K, OHW, pl->group_out, w + grp * pl->group_out * K, K, yg, OHW, xg, HW,
                     gemm_scratch);
            } else {
                GEMM(true, false, K, OHW, pl->group_out, w + grp * pl->group_out * K, K, yg, OHW, col, OHW,
                     gemm_scratch);
                memset(xg, 0, sizeof(T) * (size_t)(pl->group_in * HW));
                FN(col2im)(pl, col, xg);
            }
            if (bias)
                for (int64_t c = 0; c < pl->group_in; c++) {
                    T b = bias[grp * pl->group_in + c], *row = xg + c * HW;
                    for (int64_t i = 0; i < HW; i++) row[i] += b;
                }
        }
}

/* partial[chunk] = sum over the chunk's images of grad_y[n] @ im2col(x[n])^T, chunks [c0, c1) */
static void FN(weight_chunks)(const void *job, int64_t c0, int64_t c1, char *work) {
    const conv_plan *pl = job;
    const tg_conv_geometry *g = pl->g;
    const T *x = pl->in, *gy = pl->weight; /* grad_y travels in the weight slot */
    T *col = (T *)work, *product = (T *)(work + pl->col_bytes);
    void *gemm_scratch = work + pl->col_bytes + pl->product_bytes;
    int64_t HW = g->height * g->width, OHW = pl->out_plane, K = pl->depth, per_group = pl->group_out * K;
    for (int64_t chunk = c0; chunk < c1; chunk++) {
        T *sum = pl->chunks == 1 ? (T *)pl->out : (T *)pl->partial + chunk * g->out_channels * K;
        int64_t first = chunk * pl->chunk_images, last = first + pl->chunk_images;
        if (last > g->batch) last = g->batch;
        for (int64_t n = first; n < last; n++)
            for (int64_t grp = 0; grp < g->groups; grp++) {
                const T *xg = x + (n * g->in_channels + grp * pl->group_in) * HW;
                const T *gg = gy + (n * g->out_channels + grp * pl->group_out) * OHW;
                T *target = n == first ? sum + grp * per_group : product;
                if (!pl->pointwise) FN(im2col)(pl, xg, col);
                GEMM(false, true, pl->group_out, K, OHW, gg, OHW, pl->pointwise ? xg : col, OHW, target, K,
                     gemm_scratch);
                if (n != first) {
                    T *s = sum + grp * per_group;
                    for (int64_t i = 0; i < per_group; i++) s[i] += product[i];
                }
            }
    }
}

/* dw = partial[0] + partial[1] + ... in chunk order, elements [i0, i1) */
static void FN(sum_chunks)(const void *job, int64_t i0, int64_t i1, char *work) {
    const conv_plan *pl = job;
    (void)work;
    int64_t size = pl->g->out_channels * pl->depth;
    const T *partial = pl->partial;
    T *dw = pl->out;
    for (int64_t i = i0; i < i1; i++) {
        T s = partial[i];
        for (int64_t c = 1; c < pl->chunks; c++) s += partial[c * size + i];
        dw[i] = s;
    }
}
