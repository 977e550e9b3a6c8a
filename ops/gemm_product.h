/* The threaded product of the GEMM body (ops/gemm_kernel.h: the register
 * kernels, packing and blocking it runs), written once for both dtypes:
 * ops/gemm_variant.h includes it after ops/gemm_kernel.h, with the same
 * macros defined. No include guard on purpose.
 *
 * A product is cut in rounds (blocks of rows x depth of op(A)), each round
 * in slices of C (4 per thread, each thread owning the same ones at every
 * call of a shape); a thread takes its own slices, then what is left of the
 * others'; a slice waits only for the same slice of the previous round,
 * never for threads arriving (docs/gemm.md, "Threads"). NR comes from
 * ops/gemm_kernel.h and is undefined at the end of this file. */

/* One thread's list of slices, round after round: the next one to claim,
 * and for each of its slices the rounds done (r once rounds 0..r-1 of it are
 * all done: marks go in round order); a cache line to itself (the owner
 * claims and marks, the others only once their own list is done). */
typedef struct {
    _Alignas(64) atomic_llong next;
    atomic_llong rounds_done[UNITS_PER_THREAD];
} FN(slice_list);

typedef struct {
    const T *A, *B;
    T *C;
    int64_t M, N, K;
    int64_t a_sm, a_sk; /* op(A)[i][k] = A[i * a_sm + k * a_sk] */
    int64_t b_sk, b_sn; /* op(B)[k][j] = B[k * b_sk + j * b_sn] */
    int64_t rs, cs;     /* C[i][j] at C[i * rs + j * cs] */
    bool pairs;         /* FN(kernels_pairs) tiles (FN(by_pairs)), A read in place */
    FN(gemm_blocking) blk;
    FN(slice_list) *claim; /* thread t's list at claim[t] */
} FN(gemm_plan);

/* One round: rows [i0, i0 + rows) of op(A) and k in [k0, k0 + depth), times
 * all of op(B); cut into `units` slices of C, by columns (each slice reads
 * all of A and its own columns of B) or by rows (its own rows of A, all of
 * B): whichever operand is smaller is the one every thread reads. Thread t
 * owns the slices [units * t / nt, units * (t + 1) / nt): the same columns
 * or rows of C at every call of a shape, so each thread's share of the
 * operands and of C stays in its own cache from one step to the next. */
typedef struct {
    int64_t i0, rows, k0, depth;
    int64_t a_panels, panels, kc, group;
    bool by_rows;
    int64_t units;
} FN(gemm_round);

static FN(gemm_round) FN(round_at)(const FN(gemm_plan) *g, int64_t i0, int64_t k0, int nt) {
    const FN(gemm_blocking) *b = &g->blk;
    FN(gemm_round) r = {.i0 = i0, .k0 = k0};
    r.rows = g->M - i0 < b->rows ? g->M - i0 : b->rows;
    r.depth = g->K - k0 < b->depth ? g->K - k0 : b->depth;
    r.a_panels = (r.rows + MR - 1) / MR;
    r.panels = (g->N + NR - 1) / NR;
    int64_t passes = (r.depth + b->kc - 1) / b->kc;
    r.kc = (r.depth + passes - 1) / passes;
    r.group = b->group < r.panels ? b->group : r.panels;
    /* several threads: UNITS_PER_THREAD slices each, so that a thread the
     * system delays has its last slices taken by the others */
    int64_t want = nt > 1 ? UNITS_PER_THREAD * nt : 1;
    r.by_rows = r.rows > g->N ? r.a_panels >= nt : r.panels < nt && r.a_panels > r.panels;
    /* C larger than both operands (a weight gradient x^T @ g, M and N above
     * the batch K): by rows, so that each thread writes the rows of the
     * gradient that the optimizer's update gives it (core/parallel.h) */
    if (g->cs == 1 && g->M > g->K && g->N > g->K && r.a_panels >= nt) r.by_rows = true;
    int64_t slices = r.by_rows ? r.a_panels : r.panels;
    r.units = slices < want ? slices : want;
    return r;
}

/* The panels [*lo, *hi) of slice u: row panels of A by rows, column panels of B by columns. */
static void FN(slice_of)(const FN(gemm_round) *r, int64_t u, int64_t *lo, int64_t *hi) {
    int64_t slices = r->by_rows ? r->a_panels : r->panels;
    *lo = slices * u / r->units;
    *hi = slices * (u + 1) / r->units;
}

/* Waits until *counter >= target (other threads finishing claimed slices);
 * adds the seconds spent past the first spins to *waited unless it is NULL. */
static void FN(wait_for)(atomic_llong *counter, int64_t target, double *waited) {
    double since = 0;
    for (int spins = 0; atomic_load_explicit(counter, memory_order_acquire) < target; spins++) {
        if (spins < 4096) {
            SPIN_PAUSE();
            continue;
        }
        if (spins == 4096 && waited) since = tg_parallel_now();
        sched_yield(); /* the task's thread may be waiting for this core */
    }
    if (since > 0) *waited += tg_parallel_now() - since;
}

/* Packs panel `job` of round r's A over the round's depth, pass by pass, so
 * that a pass's panels lie side by side. */
static void FN(pack_a_job)(const FN(gemm_plan) *g, const FN(gemm_round) *r, int64_t job, T *packed_a) {
    int64_t i = r->i0 + job * MR, m = g->M - i < MR ? g->M - i : MR;
    for (int64_t p = 0; p < r->depth; p += r->kc) {
        int64_t kn = r->depth - p < r->kc ? r->depth - p : r->kc;
        FN(pack_a_panel)(g->A + i * g->a_sm + (r->k0 + p) * g->a_sk, g->a_sm, g->a_sk, m, kn,
                         packed_a + p * r->a_panels * MR + job * kn * MR);
    }
}

/* Asks for the cache lines of a C tile of (at most) m x n elements. */
static inline void FN(prefetch_tile)(const T *c, int64_t rs, int64_t cs, int64_t m, int64_t n) {
    if (cs == 1)
        for (int64_t r = 0; r < m; r++) {
            __builtin_prefetch(c + r * rs, 1, 3);
            __builtin_prefetch(c + r * rs + n - 1, 1, 3);
        }
    else
        for (int64_t j = 0; j < n; j++) __builtin_prefetch(c + j * cs, 1, 3);
}

/* A thread's buffer of packed B panels and what it holds: the panels
 * [from, to) over k in [k, k + kn) of the current product (from < 0: nothing
 * yet). A thread whose slices go by rows multiplies all of B in each of
 * them: with one pass and one group it packs B once for all of its slices
 * (the weight gradient X^T @ G of the MLP's first layer: 4 slices a thread
 * with two threads, so B was packed 4 times). */
typedef struct {
    T *panels;
    int64_t from, to, k, kn;
} FN(b_buffer);

/* Row tiles [ip0, ip1) times the group of column panels [jp0, jp1) of
 * round r, with A packed in packed_a and this thread's B buffer: pass by
 * pass (kc deep), the group's B panels packed (unless the buffer holds
 * them), then row tile by row tile (its A panel in L1), column panel by
 * column panel (the group in L2). */
static void FN(multiply_block)(const FN(gemm_plan) *g, const FN(gemm_round) *r, const T *packed_a, int64_t ip0,
                               int64_t ip1, int64_t jp0, int64_t jp1, FN(b_buffer) *b) {
    T *packed_b = b->panels;
    /* Whole panels of a row-major op(B) are read where they are instead of
     * copied when few row tiles read them (FN(gemm_blocking_for)), always
     * with one row tile in the round (M <= MR: the N-major product of an
     * output layer's weight gradient, say: each B panel meets one A panel
     * only); a partial last panel is still packed (its rows end early). */
    bool few_tiles = r->a_panels * g->b_sk * (int64_t)sizeof(T) <= g->blk.in_place_span;
    int64_t in_place = (few_tiles || r->a_panels == 1) && g->b_sn == 1 ? g->N / NR : jp0; /* panels [jp0, in_place) */
    if (in_place > jp1) in_place = jp1;
    if (in_place < jp0) in_place = jp0;
    /* Likewise when op(B)'s columns run along k (the N-major product of a
     * row-major x: the output layer's x@W): no panel is packed, the kernel
     * transposes small blocks of B as it goes (FN(kernels_tb)). Packing
     * whole panels sent them through L2 and cost a third of the product. */
    bool transposing = r->a_panels == 1 && g->b_sk == 1 && g->b_sn != 1 && !g->pairs;
    if (transposing) in_place = jp1;
    /* FN(kernels_pairs) reads its one panel's N columns where they are */
    if (g->pairs && g->b_sn == 1) in_place = jp1;
    for (int64_t p = 0; p < r->depth; p += r->kc) {
        int64_t kn = r->depth - p < r->kc ? r->depth - p : r->kc;
        bool load_c = r->k0 + p > 0;
        bool held = b->from == in_place && b->to == jp1 && b->k == r->k0 + p && b->kn == kn;
        if (in_place < jp1 && !held) {
            FN(pack_b_group)(g->B, g->b_sk, g->b_sn, g->N, in_place, jp1, r->k0 + p, kn, packed_b);
            *b = (FN(b_buffer)){packed_b, in_place, jp1, r->k0 + p, kn};
        }
        for (int64_t ip = ip0; ip < ip1; ip++) {
            int64_t m = r->rows - ip * MR < MR ? r->rows - ip * MR : MR;
            const T *pa = packed_a + p * r->a_panels * MR + ip * kn * MR;
            for (int64_t jp = jp0; jp < jp1; jp++) {
                int64_t n = g->N - jp * NR < NR ? g->N - jp * NR : NR;
                T *c = g->C + (r->i0 + ip * MR) * g->rs + jp * NR * g->cs;
                /* the next tile's C lines travel from memory while this one computes */
                if (jp + 1 < jp1) {
                    int64_t n_next = g->N - (jp + 1) * NR < NR ? g->N - (jp + 1) * NR : NR;
                    FN(prefetch_tile)(c + NR * g->cs, g->rs, g->cs, m, n_next);
                } else if (ip + 1 < ip1) {
                    int64_t m_next = r->rows - (ip + 1) * MR < MR ? r->rows - (ip + 1) * MR : MR;
                    int64_t n_first = g->N - jp0 * NR < NR ? g->N - jp0 * NR : NR;
                    FN(prefetch_tile)(g->C + (r->i0 + (ip + 1) * MR) * g->rs + jp0 * NR * g->cs, g->rs, g->cs,
                                      m_next, n_first);
                }
                if (transposing) {
                    FN(kernels_tb)[m - 1](kn, pa, g->B + (r->k0 + p) + jp * NR * g->b_sn, g->b_sn, c, g->rs, g->cs, n,
                                          load_c);
                    continue;
                }
                bool read_in_place = jp < in_place;
                const T *pb = read_in_place ? g->B + (r->k0 + p) * g->b_sk + jp * NR
                                            : packed_b + (jp - in_place) * kn * NR;
                if (g->pairs) { /* (one panel: jp = 0) */
                    const T *a = g->A + (r->i0 + ip * MR) * g->a_sm + (r->k0 + p) * g->a_sk;
                    FN(kernels_pairs)[m - 1](kn, a, g->a_sm, g->a_sk, pb, read_in_place ? g->b_sk : NR, c, g->rs,
                                             load_c);
                    continue;
                }
                FN(kernels)[m - 1][(n - 1) / VLEN](kn, pa, pb, read_in_place ? g->b_sk : NR, c, g->rs, g->cs, n,
                                                   load_c);
            }
        }
    }
}

/* Slice u of round r: by rows, its A panels packed, then all of B group by
 * group; by columns, all of A packed (once a round by each thread: `packed`
 * says whether this thread's copy is there), then its B panels group by group. */
static void FN(multiply_slice)(const FN(gemm_plan) *g, const FN(gemm_round) *r, int64_t u, T *packed_a,
                               FN(b_buffer) *packed_b, bool *packed) {
    int64_t lo, hi;
    FN(slice_of)(r, u, &lo, &hi);
    int64_t ip0 = 0, ip1 = r->a_panels, jp0 = 0, jp1 = r->panels;
    if (r->by_rows) {
        ip0 = lo, ip1 = hi;
        for (int64_t job = ip0; job < ip1 && !g->pairs; job++) FN(pack_a_job)(g, r, job, packed_a);
    } else {
        jp0 = lo, jp1 = hi;
        if (!*packed && !g->pairs)
            for (int64_t job = 0; job < r->a_panels; job++) FN(pack_a_job)(g, r, job, packed_a);
        *packed = true;
    }
    for (int64_t j = jp0; j < jp1; j += r->group)
        FN(multiply_block)(g, r, packed_a, ip0, ip1, j, j + r->group < jp1 ? j + r->group : jp1, packed_b);
}

/* Claims the next unclaimed entry below `end` of a list: its index, or -1. */
static int64_t FN(claim)(atomic_llong *next, int64_t end) {
    long long v = atomic_load_explicit(next, memory_order_relaxed);
    while (v < end)
        if (atomic_compare_exchange_weak_explicit(next, &v, v + 1, memory_order_relaxed, memory_order_relaxed)) return v;
    return -1;
}

/* The whole product, run by thread `tid` of `nt`, round by round. Each
 * thread works through its own slices of C, then takes what is left of the
 * others' (each list claimed from its start): a thread the system delays
 * finds its slices done by the others instead of holding them at the end.
 * A slice waits only for the same slice of the previous round when that
 * round has the same rows (C accumulates along k), not for the whole round:
 * a thread done with its own slices goes on to its next round while the
 * other finishes (square 2048 with two threads: up to 2.7 ms of 42 spent
 * waiting at the rounds' ends while the VM slowed one core). A slice of new
 * rows waits for nothing before it is computed, but marks itself done only
 * after the slice's earlier rounds: a mark then always means every earlier
 * round of the slice is done (had a round of new rows marked itself first,
 * with three threads or more the next round of the rows before it could
 * start while their previous one was still adding into C). Nothing else
 * waits for another thread but the region's end. Which thread computes a
 * slice never changes its bits. `buffer` is the thread's own:
 * a round of op(A) packed pass by pass (kc deep, the last one kn: pass p of
 * panel i, MR rows, at p * a_panels * MR + i * kn * MR, row k of it MR
 * values), then a group of B panels (FN(pack_b_group)). */
static void FN(gemm_run)(FN(gemm_plan) *g, int tid, int nt, T *buffer, double *waited) {
    const FN(gemm_blocking) *b = &g->blk;
    T *packed_a = buffer;
    FN(b_buffer) packed_b = {packed_a + FN(packed_a_elems)(b), -1, -1, -1, -1};
    int64_t listed[MAX_GEMM_THREADS] = {0}; /* each thread's units in earlier rounds */
    int64_t round = 0;
    for (int64_t i0 = 0; i0 < g->M; i0 += b->rows)
        for (int64_t k0 = 0; k0 < g->K; k0 += b->depth, round++) {
            FN(gemm_round) r = FN(round_at)(g, i0, k0, nt);
            bool packed = false;
            for (int i = 0; i < nt; i++) {
                int o = (tid + i) % nt; /* this thread's list first */
                int64_t first = r.units * o / nt, count = r.units * (o + 1) / nt - first;
                TG_INVARIANT(count <= UNITS_PER_THREAD); /* units <= UNITS_PER_THREAD * nt (round_at) */
                for (int64_t v; (v = FN(claim)(&g->claim[o].next, listed[o] + count)) >= 0;) {
                    atomic_llong *done = &g->claim[o].rounds_done[v - listed[o]];
                    if (k0 > 0) FN(wait_for)(done, round, waited); /* the previous round: same rows, same slices */
                    FN(multiply_slice)(g, &r, first + v - listed[o], packed_a, &packed_b, &packed);
                    if (k0 == 0) FN(wait_for)(done, round, waited); /* new rows: marks in round order */
                    atomic_store_explicit(done, round + 1, memory_order_release);
                }
                listed[o] += count;
            }
        }
}

/* The plan of C = op(A) op(B) (op(A) M x K, C at row stride ldc), N-major
 * where that fills the vector lanes better; its slice lists still to set. */
static void FN(plan_init)(FN(gemm_plan) *g, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T *A,
                          int64_t lda, const T *B, int64_t ldb, T *C, int64_t ldc) {
    /* op(A)[i][k] and op(B)[k][j] as strides; the N-major product swaps the
     * operands and reads C by columns (fma(a, b, c) == fma(b, a, c): same bits) */
    int64_t a_sm = trans_a ? 1 : lda, a_sk = trans_a ? lda : 1;
    int64_t b_sk = trans_b ? 1 : ldb, b_sn = trans_b ? ldb : 1;
    *g = (FN(gemm_plan)){.A = A, .B = B, .C = C, .M = M, .N = N, .K = K, .a_sm = a_sm, .a_sk = a_sk,
                         .b_sk = b_sk, .b_sn = b_sn, .rs = ldc, .cs = 1};
    if (FN(n_major)(trans_a, M, N, K)) {
        g->A = B, g->B = A, g->M = N, g->N = M;
        g->a_sm = b_sn, g->a_sk = b_sk, g->b_sk = a_sk, g->b_sn = a_sm;
        g->rs = 1, g->cs = ldc;
    }
    g->pairs = FN(by_pairs)(trans_a, M, N);
    g->blk = FN(gemm_blocking_for)(g->M, g->N, g->K);
}

/* Slice lists for nt threads, each from its start, no round done. */
static void FN(lists_init)(FN(gemm_plan) *g, FN(slice_list) *lists, int nt) {
    for (int t = 0; t < nt; t++) {
        atomic_init(&lists[t].next, 0);
        for (int u = 0; u < UNITS_PER_THREAD; u++) atomic_init(&lists[t].rounds_done[u], 0);
    }
    g->claim = lists;
}

/* The threads this product gets: as many as asked for and as `room`
 * buffers allow; 1 below the threshold, while core/parallel's back-off runs
 * or where this size measured faster alone. *start is when a product whose
 * time is reported (tg_gemm_note_time) began, 0 for the others. */
static int FN(threads_for)(int64_t room, double work, double *start) {
    int nt = omp_get_max_threads();
    if (nt > room) nt = (int)room;
    if (nt > MAX_GEMM_THREADS) nt = MAX_GEMM_THREADS;
    *start = 0;
    if (nt <= 1 || work < tg_gemm_parallel_work() || !tg_gemm_threads_pay()) return 1;
    *start = tg_parallel_now();
    return tg_gemm_threads_for(work) ? nt : 1; /* or measured faster alone at this size */
}

/* C[i][j] += P[i][j] for the rows [i0, i1) (P: M x N, rows N apart) */
static void FN(add_rows)(T *C, int64_t ldc, const T *P, int64_t N, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < N; j++) C[i * ldc + j] += P[i * N + j];
}

/* tg_gemm_depth_half's product: the first half of k into C, the second into
 * P at the scratch's start, then C += P. Threads [0, n/2) run the first half
 * and [n/2, n) the second (each thread then takes what is left of the other
 * half's slices: a delayed thread holds nothing up), and after a barrier
 * each adds its share of C's rows. */
static void FN(gemm_by_depth)(bool trans_a, int64_t M, int64_t N, int64_t K, int64_t K1, const T *A, int64_t lda,
                              const T *B, int64_t ldb, T *C, int64_t ldc, T *scratch, size_t scratch_bytes) {
    T *P = scratch, *buffers = scratch + FN(depth_p_elems)(M, N);
    int64_t per = FN(depth_thread_elems)(M, N, K, K1);
    int64_t room = ((int64_t)(scratch_bytes / sizeof(T)) - FN(depth_p_elems)(M, N)) / per;
    TG_INVARIANT(room >= 1); /* at least FN(gemm_scratch) bytes: the callers size it so */
    FN(gemm_plan) half[2];
    FN(plan_init)(&half[0], trans_a, false, M, N, K1, A, lda, B, ldb, C, ldc);
    FN(plan_init)(&half[1], trans_a, false, M, N, K - K1, trans_a ? A + K1 * lda : A + K1, lda, B + K1 * ldb, ldb, P,
                  N);
    FN(slice_list) lists[2][MAX_GEMM_THREADS];
    double work = (double)M * (double)N * (double)K * (double)sizeof(T), start;
    int nt = FN(threads_for)(room, work, &start);
    if (nt == 1) {
        for (int h = 0; h < 2; h++) {
            FN(lists_init)(&half[h], lists[h], 1);
            FN(gemm_run)(&half[h], 0, 1, buffers, NULL);
        }
        FN(add_rows)(C, ldc, P, N, 0, M);
        if (start > 0) tg_gemm_note_time(work, false, tg_parallel_now() - start);
        return;
    }
    double waited = 0, worked = 0;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num(), n = omp_get_num_threads();
        int team[2] = {n > 1 ? n / 2 : 1, n > 1 ? n - n / 2 : 1};
#pragma omp single
        for (int h = 0; h < 2; h++) FN(lists_init)(&half[h], lists[h], team[h]);
        /* (single's barrier: the lists are set) */
        tg_gemm_arrive(tid);
        double begin = tid == 0 ? tg_parallel_now() : 0;
        int mine = n > 1 && tid >= team[0], local = mine ? tid - team[0] : tid;
        FN(gemm_run)(&half[mine], local, team[mine], buffers + tid * per, tid == 0 ? &waited : NULL);
        FN(gemm_run)(&half[!mine], local % team[!mine], team[!mine], buffers + tid * per, tid == 0 ? &waited : NULL);
        if (tid == 0) worked = tg_parallel_now() - begin - waited;
#pragma omp barrier
        FN(add_rows)(C, ldc, P, N, M * tid / n, M * (tid + 1) / n);
    }
    double end = tg_parallel_now();
    tg_parallel_note_region(worked, end - start - worked);
    tg_gemm_note_time(work, true, end - start);
}

static void FN(gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,
                     const T *B, int64_t ldb, T *C, int64_t ldc, void *scratch, size_t scratch_bytes) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0;
        return;
    }
    int64_t K1 = tg_gemm_depth_half(trans_b, M, N, K);
    if (K1 > 0) {
        FN(gemm_by_depth)(trans_a, M, N, K, K1, A, lda, B, ldb, C, ldc, scratch, scratch_bytes);
        return;
    }
    FN(gemm_plan) g;
    FN(plan_init)(&g, trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    /* as many threads as asked for, and as the scratch has buffers for */
    int64_t per = FN(packed_a_elems)(&g.blk) + FN(packed_b_elems)(&g.blk);
    int64_t room = (int64_t)(scratch_bytes / sizeof(T)) / per;
    TG_INVARIANT(room >= 1); /* at least FN(gemm_scratch) bytes: the callers size it so */
    FN(slice_list) lists[MAX_GEMM_THREADS]; /* the first nt are used */
    double work = (double)M * (double)N * (double)K * (double)sizeof(T), start;
    int nt = FN(threads_for)(room, work, &start);
    FN(lists_init)(&g, lists, nt);
    T *buffers = scratch;
    if (nt == 1) {
        FN(gemm_run)(&g, 0, 1, buffers, NULL);
        if (start > 0) tg_gemm_note_time(work, false, tg_parallel_now() - start);
        return;
    }
    /* the calling thread times its own work; the rest of the region is
     * waiting for the others (to gather at its start, inside the tasks, at
     * its end) */
    double waited = 0, worked = 0;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        tg_gemm_arrive(tid);
        double begin = tid == 0 ? tg_parallel_now() : 0;
        FN(gemm_run)(&g, tid, omp_get_num_threads(), buffers + tid * per, tid == 0 ? &waited : NULL);
        if (tid == 0) worked = tg_parallel_now() - begin - waited;
    }
    double end = tg_parallel_now();
    tg_parallel_note_region(worked, end - start - worked);
    tg_gemm_note_time(work, true, end - start);
}

#undef NR
