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

/* LANES values as one vector (GCC's and clang's vector extension): rows of
 * tiles are split into even and odd columns, and put back together, with
 * shuffles of two vectors; a loop's strided reads and writes would go one
 * element at a time. */
typedef T FN(lanes) __attribute__((vector_size(LANES * sizeof(T))));
static inline FN(lanes) FN(lanes_at)(const T *p) {
    FN(lanes) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void FN(lanes_put)(T *p, FN(lanes) v) { memcpy(p, &v, sizeof v); }

/* even[k] = s[2 k], odd[k] = s[2 k + 1] for k < n (a multiple of LANES) */
static inline void FN(deinterleave)(int64_t n, const T *restrict s, T *restrict even, T *restrict odd) {
    for (int64_t k = 0; k < n; k += LANES) {
        FN(lanes) a = FN(lanes_at)(s + 2 * k), b = FN(lanes_at)(s + 2 * k + LANES);
        FN(lanes_put)(even + k, __builtin_shufflevector(a, b, EVENS));
        FN(lanes_put)(odd + k, __builtin_shufflevector(a, b, ODDS));
    }
}

/* V[xi][c][t] = B^T d B of every 4x4 input tile of images [n0, n0 + count):
 * tile t = (n - n0) tiles + th tiles_w + tw reads rows 2 th - pad_h + [0, 4),
 * columns 2 tw - pad_w + [0, 4), zeros outside x. Each plane is copied into
 * rows padded with zeros (the padding written once per call), so that a tile
 * row reads whole vectors of its 4 rows, written long before (a vector read
 * of values just stored at another alignment waits for the stores): B^T,
 * s0 = d0 - d2, s1 = d1 + d2, s2 = d2 - d1, s3 = d1 - d3, and B on the
 * columns of each s in registers, LANES tiles at a time, lanes_w >= tiles_w
 * tiles a row (the extra lanes land on the next tile row, rewritten next, or
 * in the slack at the end of V's rows). */
static void FN(transform_inputs)(const wino_plan *pl, const T *x, int64_t n0, int64_t count, T *V, T *padded) {
    int64_t H = pl->h, W = pl->w, ld = pl->ld, lanes = pl->lanes_w, rw = pl->padded_w;
    int64_t rows = 2 * pl->tiles_h + 2; /* padded rows the tiles read */
    size_t step = (size_t)(pl->cin * ld);
    memset(padded, 0, sizeof(T) * (size_t)(rows * rw));
    for (int64_t n = 0; n < count; n++)
        for (int64_t c = 0; c < pl->cin; c++) {
            const T *plane = x + ((n0 + n) * pl->cin + c) * H * W;
            for (int64_t r = 0; r < H && r + pl->pad_h < rows; r++)
                memcpy(padded + (r + pl->pad_h) * rw + pl->pad_w, plane + r * W, sizeof(T) * (size_t)W);
            T *out = V + c * ld + n * pl->tiles;
            for (int64_t th = 0; th < pl->tiles_h; th++, out += pl->tiles_w) {
                const T *d0 = padded + 2 * th * rw, *d1 = d0 + rw, *d2 = d1 + rw, *d3 = d2 + rw;
                for (int64_t k = 0; k < lanes; k += LANES) {
                    FN(lanes) s[4][3]; /* s[a] at columns 2k, 2k + LANES, 2k + 2 LANES */
                    for (int i = 0; i < 3; i++) {
                        int64_t col = 2 * k + i * LANES;
                        FN(lanes) r0 = FN(lanes_at)(d0 + col), r1 = FN(lanes_at)(d1 + col);
                        FN(lanes) r2 = FN(lanes_at)(d2 + col), r3 = FN(lanes_at)(d3 + col);
                        s[0][i] = r0 - r2;
                        s[1][i] = r1 + r2;
                        s[2][i] = r2 - r1;
                        s[3][i] = r1 - r3;
                    }
                    for (int a = 0; a < 4; a++) { /* tile k + j reads columns 2(k + j) .. 2(k + j) + 3 */
                        FN(lanes) lo = s[a][0], hi = s[a][1];
                        FN(lanes) next_lo = __builtin_shufflevector(lo, hi, 2, 3, 4, 5, 6, 7, 8, 9);
                        FN(lanes) next_hi = __builtin_shufflevector(hi, s[a][2], 2, 3, 4, 5, 6, 7, 8, 9);
                        FN(lanes) e0 = __builtin_shufflevector(lo, hi, EVENS), o0 = __builtin_shufflevector(lo, hi, ODDS);
                        FN(lanes) e1 = __builtin_shufflevector(next_lo, next_hi, EVENS);
                        FN(lanes) o1 = __builtin_shufflevector(next_lo, next_hi, ODDS);
                        T *v = out + (size_t)(a * 4) * step + k;
                        FN(lanes_put)(v, e0 - e1);
                        FN(lanes_put)(v + step, o0 + e1);
                        FN(lanes_put)(v + 2 * step, e1 - o0);
                        FN(lanes_put)(v + 3 * step, o0 - o1);
                    }
                }
            }
        }
}

/* A^T on one column of 4x4 tiles: t0 = m0 + m1 + m2, t1 = m1 - m2 - m3 */
static inline void FN(output_rows)(int64_t n, const T *restrict m0, const T *restrict m1, const T *restrict m2,
                                   const T *restrict m3, T *restrict t0, T *restrict t1) {
    FOR_LANES(k, n) {
        t0[k] = m0[k] + m1[k] + m2[k];
        t1[k] = m1[k] - m2[k] - m3[k];
    }
}

/* A on the columns, interleaved into an output row: row[2k] = s0 + s1 + s2,
 * row[2k + 1] = s1 - s2 - s3 */
static inline void FN(output_columns)(int64_t n, const T *restrict s0, const T *restrict s1, const T *restrict s2,
                                      const T *restrict s3, T *restrict row) {
    for (int64_t k = 0; k < n; k += LANES) {
        FN(lanes) a = FN(lanes_at)(s0 + k), b = FN(lanes_at)(s1 + k), c = FN(lanes_at)(s2 + k);
        FN(lanes) even = a + b + c, odd = b - c - FN(lanes_at)(s3 + k);
        FN(lanes_put)(row + 2 * k, __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11));
        FN(lanes_put)(row + 2 * k + LANES, __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15));
    }
}

/* y = row + b over n columns (the row is 2 lanes_w long, y OW) */
static inline void FN(store_row)(int64_t n, const T *restrict row, T b, T *restrict y) {
    for (int64_t j = 0; j < n; j++) y[j] = row[j] + b;
}

/* y[n][o] = A^T m A (+ bias[o]) for every tile, m[xi] = M[xi][o][t]: per
 * tile row, lanes_w tiles at once into two output rows, of which the first
 * OW columns (and the rows above OH) are kept. */
static void FN(transform_outputs)(const wino_plan *pl, const T *M, const T *bias, int64_t n0, int64_t count, T *y,
                                  T *lines) {
    int64_t OH = pl->oh, OW = pl->ow, ld = pl->ld, lanes = pl->lanes_w;
    size_t step = (size_t)(pl->cout * ld);
    T *row0 = lines, *row1 = lines + 2 * lanes, *t[2][4]; /* t[a][c]: (A^T m) row a, column c */
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 4; c++) t[a][c] = lines + 4 * lanes + (a * 4 + c) * lanes;
    for (int64_t n = 0; n < count; n++)
        for (int64_t o = 0; o < pl->cout; o++) {
            T *plane = y + ((n0 + n) * pl->cout + o) * OH * OW, b = bias ? bias[o] : 0;
            const T *in = M + o * ld + n * pl->tiles;
            for (int64_t th = 0; th < pl->tiles_h; th++, in += pl->tiles_w) {
                for (int c = 0; c < 4; c++)
                    FN(output_rows)(lanes, in + c * step, in + (4 + c) * step, in + (8 + c) * step,
                                    in + (12 + c) * step, t[0][c], t[1][c]);
                FN(output_columns)(lanes, t[0][0], t[0][1], t[0][2], t[0][3], row0);
                FN(store_row)(OW, row0, b, plane + 2 * th * OW);
                if (2 * th + 1 < OH) {
                    FN(output_columns)(lanes, t[1][0], t[1][1], t[1][2], t[1][3], row1);
                    FN(store_row)(OW, row1, b, plane + (2 * th + 1) * OW);
                }
            }
        }
}

/* A g A^T for a row of 2x2 gradient tiles, given the even and odd columns of
 * the tiles' two rows (e0, o0 and e1, o1): rows first, A g = (g0, g0 + g1,
 * g0 - g1, -g1), then columns the same way into v[4 a + 0..3] */
static inline void FN(grad_tiles)(int64_t n, const T *restrict e0, const T *restrict o0, const T *restrict e1,
                                  const T *restrict o1, T *restrict v0, T *restrict v1, T *restrict v2,
                                  T *restrict v3, int a) {
    FOR_LANES(k, n) {
        T e = a == 0 ? e0[k] : a == 1 ? e0[k] + e1[k] : a == 2 ? e0[k] - e1[k] : -e1[k];
        T o = a == 0 ? o0[k] : a == 1 ? o0[k] + o1[k] : a == 2 ? o0[k] - o1[k] : -o1[k];
        v0[k] = e;
        v1[k] = e + o;
        v2[k] = e - o;
        v3[k] = -o;
    }
}

/* G'[xi][o][t] = A g A^T of every 2x2 tile of the output gradient (zeros past
 * the edge): the adjoint of transform_outputs, lanes_w tiles at once. */
static void FN(transform_grads)(const wino_plan *pl, const T *gy, int64_t n0, int64_t count, T *Gt, T *lines) {
    int64_t OH = pl->oh, OW = pl->ow, ld = pl->ld, lanes = pl->lanes_w;
    size_t step = (size_t)(pl->cout * ld);
    T *padded = lines, *e0 = lines + 2 * lanes, *o0 = e0 + lanes, *e1 = o0 + lanes, *o1 = e1 + lanes;
    for (int64_t j = 0; j < 2 * lanes; j++) padded[j] = 0; /* columns past OW stay 0 */
    for (int64_t n = 0; n < count; n++)
        for (int64_t o = 0; o < pl->cout; o++) {
            const T *plane = gy + ((n0 + n) * pl->cout + o) * OH * OW;
            T *out = Gt + o * ld + n * pl->tiles;
            for (int64_t th = 0; th < pl->tiles_h; th++, out += pl->tiles_w) {
                memcpy(padded, plane + 2 * th * OW, sizeof(T) * (size_t)OW);
                FN(deinterleave)(lanes, padded, e0, o0);
                if (2 * th + 1 < OH)
                    memcpy(padded, plane + (2 * th + 1) * OW, sizeof(T) * (size_t)OW);
                else
                    memset(padded, 0, sizeof(T) * (size_t)OW);
                FN(deinterleave)(lanes, padded, e1, o1);
                for (int a = 0; a < 4; a++) {
                    T *v = out + (size_t)(4 * a) * step;
                    FN(grad_tiles)(lanes, e0, o0, e1, o1, v, v + step, v + 2 * step, v + 3 * step, a);
                }
            }
        }
}

/* Images [chunk c0, c1) of a forward pass: transform, 16 x groups GEMMs, transform back. */
static void FN(forward_chunks)(const void *job, int64_t c0, int64_t c1, char *work) {
    const wino_plan *pl = job;
    T *V = (T *)work, *M = (T *)(work + pl->v_bytes), *lines = (T *)(work + pl->v_bytes + pl->m_bytes);
    void *gemm_scratch = work + pl->v_bytes + pl->m_bytes + pl->lines_bytes;
    size_t gemm_bytes = pl->worker_bytes - pl->v_bytes - pl->m_bytes - pl->lines_bytes;
    int64_t tc = pl->ld;
    for (int64_t chunk = c0; chunk < c1; chunk++) {
        int64_t n0 = chunk * pl->chunk_images, count = pl->batch - n0 < pl->chunk_images ? pl->batch - n0 : pl->chunk_images;
        FN(transform_inputs)(pl, pl->in, n0, count, V, lines);
        for (int xi = 0; xi < 16; xi++)
            for (int64_t grp = 0; grp < pl->groups; grp++)
                GEMM(false, false, pl->cout_g, count * pl->tiles, pl->cin_g,
                     (const T *)pl->filters + (xi * pl->cout + grp * pl->cout_g) * pl->cin_g, pl->cin_g,
                     V + (xi * pl->cin + grp * pl->cin_g) * tc, tc, M + (xi * pl->cout + grp * pl->cout_g) * tc, tc,
                     gemm_scratch, gemm_bytes);
        FN(transform_outputs)(pl, M, pl->bias, n0, count, pl->out, lines);
    }
}

/* Slots [s0, s1) of a weight gradient: partial[slot] = sum over its images
 * of dU[xi] = G'[xi] @ V[xi]^T, chunk by chunk. */
static void FN(weight_slots)(const void *job, int64_t s0, int64_t s1, char *work) {
    const wino_plan *pl = job;
    T *V = (T *)work, *Gt = (T *)(work + pl->v_bytes), *lines = (T *)(work + pl->v_bytes + pl->m_bytes);
    T *product = (T *)(work + pl->v_bytes + pl->m_bytes + pl->lines_bytes);
    void *gemm_scratch = work + pl->v_bytes + pl->m_bytes + pl->lines_bytes + pl->product_bytes;
    size_t gemm_bytes = pl->worker_bytes - pl->v_bytes - pl->m_bytes - pl->lines_bytes - pl->product_bytes;
    int64_t tc = pl->ld, size = 16 * pl->cout * pl->cin_g;
    for (int64_t slot = s0; slot < s1; slot++) {
        T *sum = (T *)pl->partial + slot * size;
        int64_t first = slot * pl->slot_images, last = first + pl->slot_images;
        if (last > pl->batch) last = pl->batch;
        for (int64_t n0 = first; n0 < last; n0 += pl->chunk_images) {
            int64_t count = last - n0 < pl->chunk_images ? last - n0 : pl->chunk_images;
            FN(transform_inputs)(pl, pl->in, n0, count, V, lines);
            FN(transform_grads)(pl, pl->grad, n0, count, Gt, lines);
            T *target = n0 == first ? sum : product;
            for (int xi = 0; xi < 16; xi++)
                for (int64_t grp = 0; grp < pl->groups; grp++)
                    GEMM(false, true, pl->cout_g, pl->cin_g, count * pl->tiles,
                         Gt + (xi * pl->cout + grp * pl->cout_g) * tc, tc, V + (xi * pl->cin + grp * pl->cin_g) * tc,
                         tc, target + (xi * pl->cout + grp * pl->cout_g) * pl->cin_g, pl->cin_g, gemm_scratch, gemm_bytes);
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
