/* Errors are values: every call a caller can get wrong returns NULL or a
 * tg_status and leaves a message naming the operation and the shapes.
 *
 *   tg_tensor *y = tg_matmul(t, x, w);
 *   if (!y) fprintf(stderr, "%s\n", tg_tape_error(t));   // sticky, per tape
 *   if (tg_params_save(p, "ck.tg")) fprintf(stderr, "%s\n", tg_last_error());
 */
#ifndef TG_CORE_STATUS_H
#define TG_CORE_STATUS_H

#include <stdarg.h>

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_ARG,         /* NULL or out-of-range argument, bad axis */
    TG_ERR_SHAPE,       /* shapes do not fit the operation */
    TG_ERR_DTYPE,       /* dtypes differ or are not supported */
    TG_ERR_NOMEM,       /* the system refused memory */
    TG_ERR_STATE,       /* call not valid now: backward twice, stale version */
    TG_ERR_IO,          /* a file could not be read or written */
    TG_ERR_FORMAT,      /* a file is corrupt or of another format */
    TG_ERR_UNSUPPORTED, /* built without the feature (e.g. Graphviz) */
    TG_ERR_CHECK        /* a check (gradcheck) ran and failed */
} tg_status;

/* "TG_ERR_SHAPE" etc. */
const char *tg_status_name(tg_status status);

/* The last message set by any tapegrad call on this thread ("" if none). */
const char *tg_last_error(void);

/* The status that went with that message (TG_OK if none): what a call that
 * returned NULL failed with. */
tg_status tg_last_status(void);

/* Sets this thread's last error (printf-style) and returns `status`.
 * Library code and custom-op authors use it to report a failure. */
tg_status tg_set_error(tg_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
tg_status tg_set_errorv(tg_status status, const char *fmt, va_list args);

/* The one internal-invariant check: for bugs inside tapegrad, never for
 * anything a caller can cause. Prints file, line and condition, then aborts. */
#define TG_INVARIANT(cond)                                                     \
    do {                                                                       \
        if (!(cond)) tg_invariant_failed(__FILE__, __LINE__, #cond);           \
    } while (0)
_Noreturn void tg_invariant_failed(const char *file, int line, const char *cond);

#endif
