/* The pooling kernels of ops/pool.c for one element type, one (n, c) plane
 * per call, written once: pool.c includes this file twice after defining
 *   T          element type (float, double)
 *   FN(name)   name##_f32 / name##_f64
 * No include guard on purpose. */

/* y[i][j] = max of x over window (i, j); arg[i][j] = its index h W + w in the
 * plane (arg may be NULL). Row-major window order, strict >, so the first
 * maximum wins; a NaN always takes over (PyTorch's rule). */
static void FN(max_plane)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane) {
    int64_t H = at->height, W = at->width, OH = at->out_height, OW = at->out_width;
    const T *x = (const T *)in + plane * H * W;
    T *y = (T *)out + plane * OH * OW;
    if (arg) arg += plane * OH * OW;
    for (int64_t i = 0; i < OH; i++) {
        int64_t h0, h1;
        window(i, at->stride[0], at->padding[0], at->kernel[0], H, &h0, &h1);
        for (int64_t j = 0; j < OW; j++) {
            int64_t w0, w1;
            window(j, at->stride[1], at->padding[1], at->kernel[1], W, &w0, &w1);
            T best = -(T)INFINITY;
            int64_t where = h0 * W + w0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    T v = x[h * W + w];
                    if (v > best || isnan(v)) {
                        best = v;
                        where = h * W + w;
                    }
                }
            y[i * OW + j] = best;
            if (arg) arg[i * OW + j] = (int32_t)where;
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
