"""Architecture families: pure builders from plain config values to ``nn.Module``.

Importing this package registers every family. Build one with ``searchspace.build_model('seq',
in_channels=1, num_classes=10, input_size=28, layers='Conv-BN-PL-DropL-FCL-AL')``; the names below
are what ``searchspace`` and ``searchspace.interface`` serve on first use.
"""

from searchspace.families._describe import describe_model
from searchspace.families._init import INIT_SCHEMES
from searchspace.families._registry import build_model, family_params, get_family, list_families, register_family

# Importing the modules registers their families.
from searchspace.families import _seq  # noqa: F401  (fcl, seq)
from searchspace.families import _resnet  # noqa: F401  (resnet, cifar_resnet)
from searchspace.families import _vgg  # noqa: F401  (vgg)
from searchspace.families import _baseline_cnn  # noqa: F401  (baseline_cnn)
from searchspace.families import _skip  # noqa: F401  (skip_cnn)
