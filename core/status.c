#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>

enum { TG_ERROR_MESSAGE_MAX = 1024 };

static _Thread_local char last_error[TG_ERROR_MESSAGE_MAX];
static _Thread_local tg_status last_status;

const char *tg_status_name(tg_status status) {
    switch (status) {
    case TG_OK: return "TG_OK";
    case TG_ERR_ARG: return "TG_ERR_ARG";
    case TG_ERR_SHAPE: return "TG_ERR_SHAPE";
    case TG_ERR_DTYPE: return "TG_ERR_DTYPE";
    case TG_ERR_NOMEM: return "TG_ERR_NOMEM";
    case TG_ERR_STATE: return "TG_ERR_STATE";
    case TG_ERR_IO: return "TG_ERR_IO";
    case TG_ERR_FORMAT: return "TG_ERR_FORMAT";
    case TG_ERR_UNSUPPORTED: return "TG_ERR_UNSUPPORTED";
    case TG_ERR_CHECK: return "TG_ERR_CHECK";
    }
    return "TG_ERR_UNKNOWN";
}

const char *tg_last_error(void) { return last_error; }
tg_status tg_last_status(void) { return last_status; }

tg_status tg_set_errorv(tg_status status, const char *fmt, va_list args) {
    vsnprintf(last_error, sizeof last_error, fmt, args);
    last_status = status;
    return status;
}

tg_status tg_set_error(tg_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    tg_set_errorv(status, fmt, args);
    va_end(args);
    return status;
}

void tg_invariant_failed(const char *file, int line, const char *cond) {
    fprintf(stderr, "tapegrad: internal invariant broken at %s:%d: %s\n"
                    "this is a bug in tapegrad, not in the calling program\n",
            file, line, cond);
    abort();
}
