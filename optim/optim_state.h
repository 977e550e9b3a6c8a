/* Optimizer state: readable by name, saved and restored exactly.
 *
 *   tg_tensor *m = tg_optim_state(opt, "fc1.weight", "exp_avg");
 *   tg_optim_save(opt, "optim.tg");   ...   tg_optim_load(fresh, "optim.tg");
 *
 * State tensors, per parameter, same dtype and shape as the parameter,
 * created at the parameter's first update (PyTorch's names):
 *   SGD with momentum   "momentum_buffer"
 *   Adam, AdamW         "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" with amsgrad
 *
 * In a checkpoint (core/checkpoint.h) an optimizer is these records:
 *   optim/config              bytes: kind and flags, e.g. "adam amsgrad=1 maximize=0"
 *   optim/steps               bytes: int64, tg_optim_steps
 *   optim/groups              bytes: int64, the number of groups
 *   optim/group/<g>/pattern   bytes: the pattern text ("" for the default group)
 *   optim/group/<g>/options   bytes: 8 doubles: base lr, lr, weight_decay,
 *                             momentum, dampening, beta1, beta2, eps
 *   optim/<param>/step        bytes: int64, the parameter's update count (when > 0)
 *   optim/<param>/<state>     STATE tensor
 * (numbers in the host's byte order, little-endian like the rest of the file).
 *
 * Importing restores the optimizer as it was exported: every group's options
 * and learning rates, the step counts and the state tensors (like PyTorch's
 * load_state_dict, which also restores param_groups' hyperparameters). The
 * optimizer imported into must be built the same way: same kind and flags,
 * the same group patterns in the same order, and every parameter named in
 * the records must be in its store as a trainable tensor of the same dtype
 * and shape. Parameters without records start fresh. Resuming is exact: the
 * following steps give the same bits as the exporting optimizer's would. */
#ifndef TG_OPTIM_STATE_H
#define TG_OPTIM_STATE_H

#include "core/checkpoint.h"
#include "optim/optim.h"

/* A parameter's state tensor (stored: it lives as long as the optimizer, and
 * changing its values changes the optimizer's state), or NULL +
 * tg_last_error() if there is no such parameter or state (yet). */
tg_tensor *tg_optim_state(const tg_optim *opt, const char *param_name, const char *state_name);

/* Adds the optimizer's records to c. The state tensors are not copied: write
 * c before the next step. */
tg_status tg_optim_export(const tg_optim *opt, tg_checkpoint *c);
/* Checks c's optimizer records against opt (kind, flags, groups, names,
 * dtypes, shapes, values) and changes nothing: an error names what differs. */
tg_status tg_optim_check_import(const tg_optim *opt, const tg_checkpoint *c);
/* Checks, then restores everything or (on an error) nothing. */
tg_status tg_optim_import(tg_optim *opt, const tg_checkpoint *c);

/* A checkpoint file with the optimizer's records alone, written atomically;
 * loading reads and checks the whole file before changing anything. */
tg_status tg_optim_save(const tg_optim *opt, const char *path);
tg_status tg_optim_load(tg_optim *opt, const char *path);

#endif
