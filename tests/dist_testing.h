/* Helpers for the data-parallel tests (tests/test_dist_*.c), which
 * tools/test.sh runs under `mpirun -n 2` (and some under -n 3): every rank
 * runs every test. Rank 0 prints cmocka's report; the other ranks print only
 * their failures (to stderr), and the program fails if any rank did.
 *
 * A test must not let one rank skip a collective another rank makes (it
 * would wait forever): do the collective work first, share the results
 * (dist_all_equal, MPI_Allreduce), then assert. */
#ifndef TG_TESTS_DIST_TESTING_H
#define TG_TESTS_DIST_TESTING_H

#include <mpi.h>
#include <stdlib.h>

#include "testing.h"
#include "tapegrad_dist.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline int dist_rank(void) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}
static inline int dist_size(void) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/* MPI up. cmocka's report comes from rank 0: the other ranks report in TAP
 * (no "[  PASSED  ]" lines for tools/test.sh to count twice) into a silenced
 * stdout, and their failures' messages still reach stderr. */
static inline void dist_test_begin(int *argc, char ***argv) {
    MPI_Init(argc, argv);
    if (dist_rank() == 0) return;
    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 1);
    if (!freopen("/dev/null", "w", stdout)) fprintf(stderr, "cannot silence stdout\n");
}

/* The failures of every rank summed; MPI down. Returns main's status. */
static inline int dist_test_end(int failed_here) {
    int failed = 0;
    MPI_Allreduce(&failed_here, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (dist_rank() == 0 && failed != failed_here)
        printf("%d test(s) failed on other ranks (their messages are on stderr)\n", failed - failed_here);
    MPI_Finalize();
    return failed ? 1 : 0;
}

/* Whether v is the same on every rank of comm. */
static inline bool dist_all_equal(MPI_Comm comm, uint64_t v) {
    uint64_t mine[2] = {v, ~v}, lowest[2];
    MPI_Allreduce(mine, lowest, 2, MPI_UINT64_T, MPI_MIN, comm);
    return lowest[0] == ~lowest[1];
}

/* The largest per-tensor relative difference max|a - b| / max|b| between two
 * stores of the same layout (parameters and buffers). */
static inline double store_relative_difference(const tg_params *a, const tg_params *b) {
    double worst = 0;
    assert_int_equal(tg_params_count(a), tg_params_count(b));
    for (int i = 0; i < tg_params_count(a); i++) {
        const tg_tensor *x = tg_params_at(a, i), *y = tg_params_at(b, i);
        assert_int_equal(x->numel, y->numel);
        double diff = 0, scale = 0;
        for (int64_t k = 0; k < x->numel; k++) {
            double d = fabs(tg_get(x, k) - tg_get(y, k)), m = fabs(tg_get(y, k));
            if (!(d <= diff)) diff = d; /* NaN wins */
            if (m > scale) scale = m;
        }
        double rel = scale > 0 ? diff / scale : diff;
        if (!(rel <= worst)) worst = rel;
    }
    return worst;
}

#endif
