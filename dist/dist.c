/* The communicator, MPI's lifetime, agreeing on errors, and the replicas
 * table that hands dist/'s collectives to the layers below (see dist/dist.h). */
#include "dist/dist_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_BUCKET_BYTES = 1 << 20, DEFAULT_SMALL_BYTES = 16 << 10, MESSAGE_MAX = 1024 };

tg_status tg_dist_mpi_status(int code, const char *who) {
    if (code == MPI_SUCCESS) return TG_OK;
    char text[MPI_MAX_ERROR_STRING] = "";
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", code);
    return tg_set_error(TG_ERR_IO, "%s: MPI: %s", who, text);
}

tg_status tg_dist_reserve(void **p, size_t *size, size_t bytes, const char *who) {
    if (bytes <= *size) return TG_OK;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *fresh = aligned_alloc(64, rounded);
    if (!fresh) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes", who, bytes);
    free(*p);
    *p = fresh;
    *size = rounded;
    return TG_OK;
}

/* ---- the replicas table (core/replicas.h) ---- */

static tg_status replicas_sum(void *user, tg_dtype dtype, void *data, int64_t count, bool failed) {
    return tg_dist_sum_checked(user, dtype, data, count, failed, "tg_dist_sum");
}
static tg_status replicas_agree(void *user, tg_status local) { return tg_dist_agree(user, local); }
static tg_status replicas_broadcast_params(void *user, tg_params *p) { return tg_dist_broadcast_params(user, p); }
static tg_status replicas_average_grads(void *user, tg_params *p) { return tg_dist_average_grads(user, p); }

const tg_replicas *tg_dist_replicas(tg_dist *d) { return d ? &d->replicas : NULL; }

/* ---- lifetime ---- */

tg_dist *tg_dist_new(MPI_Comm comm, const tg_dist_opts *opts) {
    const char *who = "tg_dist_new";
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (!initialised || finalised) {
        tg_set_error(TG_ERR_STATE, "%s: MPI is %s (call MPI_Init first, or use tg_dist_init)", who,
                     finalised ? "finalised" : "not initialised");
        return NULL;
    }
    tg_dist *d = calloc(1, sizeof *d);
    if (!d) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    if (opts) d->opts = *opts;
    if (!d->opts.bucket_bytes) d->opts.bucket_bytes = DEFAULT_BUCKET_BYTES;
    if (!d->opts.small_bytes) d->opts.small_bytes = DEFAULT_SMALL_BYTES;
    if (tg_dist_mpi_status(MPI_Comm_dup(comm, &d->comm), who)) {
        free(d);
        return NULL;
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    d->replicas = (tg_replicas){.rank = d->rank,
                                .size = d->size,
                                .user = d,
                                .sum = replicas_sum,
                                .agree = replicas_agree,
                                .broadcast_params = replicas_broadcast_params,
                                .average_grads = replicas_average_grads};
    return d;
}

void tg_dist_free(tg_dist *d) {
    if (!d) return;
    MPI_Comm_free(&d->comm);
    free(d->send);
    free(d->recv);
    free(d->bucket);
    tg_bucket_plan_free(&d->plan);
    free(d);
}

tg_dist *tg_dist_init(int *argc, char ***argv, const tg_dist_opts *opts) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
        int provided = 0;
        /* funneled: only the thread that called tg_dist_init calls MPI (OpenMP workers never do) */
        if (tg_dist_mpi_status(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "tg_dist_init"))
            return NULL;
    }
    tg_dist *d = tg_dist_new(MPI_COMM_WORLD, opts);
    if (!d) {
        if (!initialised) MPI_Finalize();
        return NULL;
    }
    d->finalize_mpi = !initialised;
    return d;
}

tg_status tg_dist_finalize(tg_dist *d) {
    if (!d) return TG_OK;
    bool finalize = d->finalize_mpi;
    tg_dist_free(d);
    return finalize ? tg_dist_mpi_status(MPI_Finalize(), "tg_dist_finalize") : TG_OK;
}

/* Open MPI's mpirun, MPICH/Intel's Hydra (PMI), Slurm's srun */
bool tg_dist_launched(void) {
    const char *sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        const char *v = getenv(sizes[i]);
        if (v && atoi(v) > 1) return true;
    }
    return false;
}

int tg_dist_rank(const tg_dist *d) { return d ? d->rank : 0; }
int tg_dist_size(const tg_dist *d) { return d ? d->size : 1; }

/* ---- agreeing on errors ---- */

/* Each rank offers a claim: its rank if it failed on its own, size + rank if
 * its error only echoes another rank's failure (a sum saw it), 2 size if it
 * is fine. The minimum names the rank whose message everyone reports. */
tg_status tg_dist_agree(tg_dist *d, tg_status local) {
    const char *who = "tg_dist_agree";
    if (!d) return tg_set_error(TG_ERR_ARG, "%s: dist is NULL", who);
    int claim = local == TG_OK ? 2 * d->size : (d->saw_peer_failure ? d->size : 0) + d->rank, lowest = claim;
    d->saw_peer_failure = false;
    struct {
        int status;
        char message[MESSAGE_MAX];
    } report = {local, ""};
    snprintf(report.message, sizeof report.message, "%s", tg_last_error());
    tg_status st = tg_dist_mpi_status(MPI_Allreduce(&claim, &lowest, 1, MPI_INT, MPI_MIN, d->comm), who);
    if (st) return st;
    if (lowest == 2 * d->size) return TG_OK;
    int root = lowest % d->size;
    if ((st = tg_dist_mpi_status(MPI_Bcast(&report, (int)sizeof report, MPI_BYTE, root, d->comm), who))) return st;
    report.message[MESSAGE_MAX - 1] = '\0';
    tg_status status = report.status > TG_OK && report.status <= TG_ERR_CHECK ? (tg_status)report.status : TG_ERR_STATE;
    if (strncmp(report.message, "rank ", 5) == 0) return tg_set_error(status, "%s", report.message); /* named already */
    return tg_set_error(status, "rank %d of %d: %s", root, d->size, report.message);
}
