"""Architecture families: pure builders from plain config values to ``nn.Module``.

Importing this package registers every family. Build one with
``build_model('seq', in_channels=1, num_classes=10, input_size=28, layers='Conv-BN-PL-DropL-FCL-AL')``.
"""

from searchspace.families._describe import describe_model
from searchspace.families._init import INIT_SCHEMES, apply_init
from searchspace.families._registry import (
    Family,
    build_model,
    family_params,
    get_family,
    list_families,
    normalize_size,
    register_family,
)

# Importing the modules registers their families.
from searchspace.families import _seq  # noqa: F401  (fcl, seq)
from searchspace.families import _resnet  # noqa: F401  (resnet, cifar_resnet)
from searchspace.families import _vgg  # noqa: F401  (vgg)
from searchspace.families import _baseline_cnn  # noqa: F401  (baseline_cnn)
from searchspace.families._skip import SkipCNN  # (registers skip_cnn)

__all__ = [
    "Family",
    "INIT_SCHEMES",
    "SkipCNN",
    "apply_init",
    "build_model",
    "describe_model",
    "family_params",
    "get_family",
    "list_families",
    "normalize_size",
    "register_family",
]
