/* Private to data/: the parsers behind the file loaders, working on bytes in
 * memory. tg_dataset_idx / tg_dataset_csv read their files (tg_read_file,
 * gzip inflated) and call these; a fuzz target calls them directly on its
 * input (after tg_read_memory, to go through gzip too). Each takes ownership
 * of the bytes it is given and frees them, whether it succeeds or not. */
#ifndef TG_DATA_LOADERS_H
#define TG_DATA_LOADERS_H

#include "data/dataset.h"
#include "data/file.h"

/* IDX images and labels (see tg_dataset_idx); the paths name the bytes in
 * messages; classes 0: max label + 1, else labels must be < classes;
 * class_names NULL: "0", "1", .... */
tg_dataset *tg_idx_parse(const char *who, const char *name, const char *images_path, tg_bytes images,
                         const char *labels_path, tg_bytes labels, int64_t classes,
                         const char *const *class_names);

/* CSV text (see tg_dataset_csv); opts NULL: tg_csv_defaults(). */
tg_dataset *tg_csv_parse(const char *who, const char *path, tg_bytes text, const tg_csv_opts *opts);

#endif
