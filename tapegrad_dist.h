/* tapegrad with data-parallel training on MPI: the whole API of tapegrad.h
 * plus dist/ (built with TG_WITH_MPI; link tapegrad_dist, or
 * `pkg-config --cflags --libs tapegrad-dist`). */
#ifndef TAPEGRAD_DIST_H
#define TAPEGRAD_DIST_H

#include <mpi.h> /* outside extern "C": MPI's header has its own */

#include "tapegrad.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "dist/dist.h"

#ifdef __cplusplus
}
#endif

#endif
