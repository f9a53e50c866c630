"""Training: optimizer, schedule and augmentation registries, the trainer, metrics, checkpoints.

Private to ``objectives`` (``studies`` reaches it through ``objectives.interface``). Importing the
package fills the registries; the names below are what the rest of ``objectives`` uses.
"""

# Every module of the package, imported as the package always did: importing them fills the
# registries (loaders, optimizers, schedules, augmentations, the skip config part and objective).
from objectives.train import _augment  # noqa: F401
from objectives.train import _batched  # noqa: F401
from objectives.train._checkpoint import remove_checkpoint
from objectives.train import _config  # noqa: F401
from objectives.train._device import autocast_for, resolve_device
from objectives.train import _loss  # noqa: F401
from objectives.train import _metrics  # noqa: F401
from objectives.train import _optim  # noqa: F401
from objectives.train._trainer import Diverged, EpochStats, FitResult, fit
