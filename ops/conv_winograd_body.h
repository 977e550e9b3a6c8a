/* The Winograd F(2x2, 3x3) kernels of ops/conv_winograd.c for one element
 * type, written once: conv_winograd.c includes this file twice after defining
 *   T          element type (float, double)
 *   FN(name)   name##_f32 / name##_f64
 *   GEMM       tg_gemm_f32 / tg_gemm_f64
 * Transform matrices (docs/winograd.md):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * No include guard on purpose. */

/* u = G g G^T: a 3x3 filter (g[a][b] at g[a sa + b sb]) -> 16 values */
static inline void FN(kernel_tile)(const T *g, int64_t sa, int64_t sb, T u[16]) {
    T r[4][3];
    for (int b = 0; b < 3; b++) { /* G g: rows */
        T g0 = g[b * sb], g1 = g[sa + b * sb], g2 = g[2 * sa + b * sb];
        r[0][b] = g0;
        r[1][b] = (g0 + g1 + g2) * (T)0.5;
        r[2][b] = (g0 - g1 + g2) * (T)0.5;
        r[3][b] = g2;
    }
    for (int a = 0; a < 4; a++) { /* (G g) G^T: columns */
        T g0 = r[a][0], g1 = r[a][1], g2 = r[a][2];
        u[a * 4 + 0] = g0;
        u[a * 4 + 1] = (g0 + g1 + g2) * (T)0.5;
        u[a * 4 + 2] = (g0 - g1 + g2) * (T)0.5;
        u[a * 4 + 3] = g2;
    }
}

/* U[xi][o][c] = G g G^T of the Winograd convolution's filter (o, c), from w:
 *   forward:    g = w[o][c]
 *   transposed: g = w[grp Cout_w/G + c][o - grp Cin_w/G] flipped in both axes
 * (the transposed convolution correlates with the flipped filters, input and
 * output channels swapped). */
static void FN(transform_filters)(const wino_plan *pl, const T *w, bool transposed, T *U) {
    int64_t cout = pl->cout, cin_g = pl->cin_g;
    for (int64_t o = 0; o < cout; o++)
        for (int64_t c = 0; c < cin_g; c++) {
            T u[16];
            if (!transposed) {
                FN(kernel_tile)(w + (o * cin_g + c) * 9, 3, 1, u);
            } else { /* w [Cin_wino, Cout_wino/G, 3, 3]; flipped: start at [2][2], step back */
                int64_t grp = o / pl->cout_g, filter = (grp * cin_g + c) * pl->cout_g + (o - grp * pl->cout_g);
                FN(kernel_tile)(w + filter * 9 + 8, -3, -1, u);
            }
            for (int xi = 0; xi < 16; xi++) U[(xi * cout + o) * cin_g + c] = u[xi];
        }
}

/* s = B^T d over n columns of 4 input rows */
static inline void FN(rows_transform)(int64_t n, const T *restrict d0, const T *restrict d1, const T *restrict d2,
                                      const T *restrict d3, T *restrict s0, T *restrict s1, T *restrict s2,
                                      T *restrict s3) {
    for (int64_t j = 0; j < n; j++) {
        s0[j] = d0[j] - d2[j];
        s1[j] = d1[j] + d2[j];
        s2[j] = d2[j] - d1[j];
        s3[j] = d1[j] - d3[j];
    }
}

/* V[xi][c][t] = B^T d B of every 4x4 input tile of images [n0, n0 + count):
 * tile t = (n - n0) tiles + th tiles_w + tw reads rows 2 th - pad_h + [0, 4),
 * columns 2 tw - pad_w + [0, 4), zeros outside x. Two passes per tile row,
 * each vectorizable: B^T on the 4 rows over the whole (padded) width into
 * `rows` (4 x row_len), then B on each tile's 4 columns. */
static void FN(transform_inputs)(const wino_plan *pl, const T *x, int64_t n0, int64_t count, T *V, T *rows) {
    int64_t H = pl->h, W = pl->w, tc = pl->chunk_tiles, len = pl->row_len, pw = pl->pad_w;
    size_t step = (size_t)(pl->cin * tc);
    T *s0 = rows, *s1 = rows + len, *s2 = rows + 2 * len, *s3 = rows + 3 * len, *zeros = rows + 4 * len;
    for (int64_t j = 0; j < 4 * len + W; j++) rows[j] = 0; /* the padding columns stay 0 */
    for (int64_t n = 0; n < count; n++)
        for (int64_t c = 0; c < pl->cin; c++) {
            const T *plane = x + ((n0 + n) * pl->cin + c) * H * W;
            T *out = V + c * tc + n * pl->tiles;
            for (int64_t th = 0; th < pl->tiles_h; th++, out += pl->tiles_w) {
                const T *d[4];
                for (int a = 0; a < 4; a++) {
                    int64_t r = 2 * th - pl->pad_h + a;
                    d[a] = r >= 0 && r < H ? plane + r * W : zeros; /* padding rows read zeros */
                }
                FN(rows_transform)(W, d[0], d[1], d[2], d[3], s0 + pw, s1 + pw, s2 + pw, s3 + pw);
                const T *s[4] = {s0, s1, s2, s3};
                for (int a = 0; a < 4; a++) { /* (B^T d) B for each tile */
                    const T *r = s[a];
                    T *o0 = out + (size_t)(a * 4) * step, *o1 = o0 + step, *o2 = o1 + step, *o3 = o2 + step;
                    for (int64_t tw = 0; tw < pl->tiles_w; tw++) {
                        T v0 = r[2 * tw], v1 = r[2 * tw + 1], v2 = r[2 * tw + 2], v3 = r[2 * tw + 3];
                        o0[tw] = v0 - v2;
                        o1[tw] = v1 + v2;
                        o2[tw] = v2 - v1;
                        o3[tw] = v1 - v3;
                    }
                }
            }
        }
}

/* y[n][o] = A^T m A (+ bias[o]) for every tile, m[xi] = M[xi][o][t]; outputs
 * past the edge (odd sizes) are dropped. */
static void FN(transform_outputs)(const wino_plan *pl, const T *M, const T *bias, int64_t n0, int64_t count, T *y) {
    int64_t OH = pl->oh, OW = pl->ow, tc = pl->chunk_tiles;
    size_t step = (size_t)(pl->cout * tc);
    for (int64_t n = 0; n < count; n++)
        for (int64_t o = 0; o < pl->cout; o++) {
            T *plane = y + ((n0 + n) * pl->cout + o) * OH * OW, b = bias ? bias[o] : 0;
            const T *in = M + o * tc + n * pl->tiles;
            for (int64_t th = 0; th < pl->tiles_h; th++)
                for (int64_t tw = 0; tw < pl->tiles_w; tw++, in++) {
                    T m[16], s[2][4];
                    for (int xi = 0; xi < 16; xi++) m[xi] = in[xi * step];
                    for (int b2 = 0; b2 < 4; b2++) { /* A^T m */
                        s[0][b2] = m[b2] + m[4 + b2] + m[8 + b2];
                        s[1][b2] = m[4 + b2] - m[8 + b2] - m[12 + b2];
                    }
                    T out[2][2];
                    for (int a = 0; a < 2; a++) { /* (A^T m) A */
                        out[a][0] = s[a][0] + s[a][1] + s[a][2];
                        out[a][1] = s[a][1] - s[a][2] - s[a][3];
                    }
                    int64_t r0 = 2 * th, c0 = 2 * tw;
                    for (int a = 0; a < 2 && r0 + a < OH; a++)
                        for (int b2 = 0; b2 < 2 && c0 + b2 < OW; b2++) plane[(r0 + a) * OW + c0 + b2] = out[a][b2] + b;
                }
        }
}

/* G'[xi][o][t] = A g A^T of every 2x2 tile of the output gradient (zeros past
 * the edge): the adjoint of transform_outputs. */
static void FN(transform_grads)(const wino_plan *pl, const T *gy, int64_t n0, int64_t count, T *Gt) {
    int64_t OH = pl->oh, OW = pl->ow, tc = pl->chunk_tiles;
    size_t step = (size_t)(pl->cout * tc);
    for (int64_t n = 0; n < count; n++)
        for (int64_t o = 0; o < pl->cout; o++) {
            const T *plane = gy + ((n0 + n) * pl->cout + o) * OH * OW;
            T *out = Gt + o * tc + n * pl->tiles;
            for (int64_t th = 0; th < pl->tiles_h; th++)
                for (int64_t tw = 0; tw < pl->tiles_w; tw++, out++) {
                    int64_t r0 = 2 * th, c0 = 2 * tw;
                    T g[2][2];
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++)
                            g[a][b] = r0 + a < OH && c0 + b < OW ? plane[(r0 + a) * OW + c0 + b] : 0;
                    T s[4][2];
                    for (int b = 0; b < 2; b++) { /* A g: rows */
                        s[0][b] = g[0][b];
                        s[1][b] = g[0][b] + g[1][b];
                        s[2][b] = g[0][b] - g[1][b];
                        s[3][b] = -g[1][b];
                    }
                    for (int a = 0; a < 4; a++) { /* (A g) A^T: columns */
                        out[(a * 4 + 0) * step] = s[a][0];
                        out[(a * 4 + 1) * step] = s[a][0] + s[a][1];
                        out[(a * 4 + 2) * step] = s[a][0] - s[a][1];
                        out[(a * 4 + 3) * step] = -s[a][1];
                    }
                }
        }
}

/* Images [chunk c0, c1) of a forward pass: transform, 16 x groups GEMMs, transform back. */
static void FN(forward_chunks)(const void *job, int64_t c0, int64_t c1, char *work) {
    const wino_plan *pl = job;
    T *V = (T *)work, *M = (T *)(work + pl->v_bytes), *rows = (T *)(work + pl->v_bytes + pl->m_bytes);
    void *gemm_scratch = work + pl->v_bytes + pl->m_bytes + pl->rows_bytes;
    int64_t tc = pl->chunk_tiles;
    for (int64_t chunk = c0; chunk < c1; chunk++) {
        int64_t n0 = chunk * pl->chunk_images, count = pl->batch - n0 < pl->chunk_images ? pl->batch - n0 : pl->chunk_images;
        FN(transform_inputs)(pl, pl->in, n0, count, V, rows);
        for (int xi = 0; xi < 16; xi++)
            for (int64_t grp = 0; grp < pl->groups; grp++)
                GEMM(false, false, pl->cout_g, count * pl->tiles, pl->cin_g,
                     (const T *)pl->filters + (xi * pl->cout + grp * pl->cout_g) * pl->cin_g, pl->cin_g,
                     V + (xi * pl->cin + grp * pl->cin_g) * tc, tc, M + (xi * pl->cout + grp * pl->cout_g) * tc, tc,
                     gemm_scratch);
        FN(transform_outputs)(pl, M, pl->bias, n0, count, pl->out);
    }
}

/* Slots [s0, s1) of a weight gradient: partial[slot] = sum over its images
 * of dU[xi] = G'[xi] @ V[xi]^T, chunk by chunk. */
static void FN(weight_slots)(const void *job, int64_t s0, int64_t s1, char *work) {
    const wino_plan *pl = job;
    T *V = (T *)work, *Gt = (T *)(work + pl->v_bytes), *rows = (T *)(work + pl->v_bytes + pl->m_bytes);
    T *product = (T *)(work + pl->v_bytes + pl->m_bytes + pl->rows_bytes);
    void *gemm_scratch = work + pl->v_bytes + pl->m_bytes + pl->rows_bytes + pl->product_bytes;
    int64_t tc = pl->chunk_tiles, size = 16 * pl->cout * pl->cin_g;
    for (int64_t slot = s0; slot < s1; slot++) {
        T *sum = (T *)pl->partial + slot * size;
        int64_t first = slot * pl->slot_images, last = first + pl->slot_images;
        if (last > pl->batch) last = pl->batch;
        for (int64_t n0 = first; n0 < last; n0 += pl->chunk_images) {
            int64_t count = last - n0 < pl->chunk_images ? last - n0 : pl->chunk_images;
            FN(transform_inputs)(pl, pl->in, n0, count, V, rows);
            FN(transform_grads)(pl, pl->grad, n0, count, Gt);
            T *target = n0 == first ? sum : product;
            for (int xi = 0; xi < 16; xi++)
                for (int64_t grp = 0; grp < pl->groups; grp++)
                    GEMM(false, true, pl->cout_g, pl->cin_g, count * pl->tiles,
                         Gt + (xi * pl->cout + grp * pl->cout_g) * tc, tc, V + (xi * pl->cin + grp * pl->cin_g) * tc,
                         tc, target + (xi * pl->cout + grp * pl->cout_g) * pl->cin_g, pl->cin_g, gemm_scratch);
            if (target == product)
                for (int64_t i = 0; i < size; i++) sum[i] += product[i];
        }
    }
}

/* partial[0][i] += partial[1][i] + ... in slot order, elements [i0, i1) */
static void FN(sum_slots)(const void *job, int64_t i0, int64_t i1, char *work) {
    (void)work;
    const wino_plan *pl = job;
    int64_t size = 16 * pl->cout * pl->cin_g;
    T *sum = pl->partial;
    for (int64_t slot = 1; slot < pl->slots; slot++) {
        const T *part = sum + slot * size;
        for (int64_t i = i0; i < i1; i++) sum[i] += part[i];
    }
}

/* dw[o][c] = G^T dU G, dU[xi] = partial[0][xi][o][c] (the sum over slots), for filters [f0, f1) */
static void FN(weight_finish)(const void *job, int64_t f0, int64_t f1, char *work) {
    (void)work;
    const wino_plan *pl = job;
    int64_t filters = pl->cout * pl->cin_g;
    const T *partial = pl->partial;
    T *dw = pl->out;
    for (int64_t f = f0; f < f1; f++) {
        T u[16];
        for (int xi = 0; xi < 16; xi++) u[xi] = partial[xi * filters + f];
        T r[3][4]; /* G^T u: rows */
        for (int b = 0; b < 4; b++) {
            T h = (u[4 + b] + u[8 + b]) * (T)0.5;
            r[0][b] = u[b] + h;
            r[1][b] = (u[4 + b] - u[8 + b]) * (T)0.5;
            r[2][b] = h + u[12 + b];
        }
        T *out = dw + f * 9;
        for (int a = 0; a < 3; a++) { /* (G^T u) G: columns */
            T h = (r[a][1] + r[a][2]) * (T)0.5;
            out[a * 3 + 0] = r[a][0] + h;
            out[a * 3 + 1] = (r[a][1] - r[a][2]) * (T)0.5;
            out[a * 3 + 2] = h + r[a][3];
        }
    }
}
