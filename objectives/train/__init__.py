"""Training: optimizer, schedule and augmentation registries, the trainer, metrics, checkpoints.

Private to ``objectives`` (``studies`` reaches it through ``objectives.interface``). Importing the
package fills the registries; the names below are what the rest of ``objectives`` uses.
"""

from objectives.train._checkpoint import remove_checkpoint
from objectives.train._device import autocast_for, resolve_device
from objectives.train._trainer import Diverged, EpochStats, FitResult, fit

# The registries, filled on import as an eager import of the package always did: augmentations
# (_augment), optimizers and schedules (_optim); and the fused-repeats trainer (_batched).
from objectives.train import _augment, _batched, _optim  # noqa: F401
