"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 as torchvision publishes them (loaders and file
checks: ``objectives.data._torchvision``)."""

from objectives.catalog._entry import dataset_entry

_LOADERS = "objectives.data._torchvision"
_SHAPE = "{train_size:,} + {test_size:,} {image_size}x{image_size}"

DATASETS = (
    dataset_entry(
        name="mnist",
        description=f"MNIST: {_SHAPE} grayscale handwritten digits, {{num_classes}} classes (torchvision)",
        loader=f"{_LOADERS}:load_idx", present=f"{_LOADERS}:_idx_present", embedded=False,
        channels=1, image_size=28, num_classes=10, train_size=60_000, test_size=10_000,
    ),
    dataset_entry(
        name="fashion_mnist",
        description=f"Fashion-MNIST: {_SHAPE} grayscale clothing images, {{num_classes}} classes (torchvision)",
        loader=f"{_LOADERS}:load_idx", present=f"{_LOADERS}:_idx_present", embedded=False,
        channels=1, image_size=28, num_classes=10, train_size=60_000, test_size=10_000,
    ),
    dataset_entry(
        name="cifar10",
        description=f"CIFAR-10: {_SHAPE} colour images, {{num_classes}} classes (torchvision)",
        loader=f"{_LOADERS}:load_cifar", present=f"{_LOADERS}:_cifar_present", embedded=False,
        channels=3, image_size=32, num_classes=10, train_size=50_000, test_size=10_000,
    ),
    dataset_entry(
        name="cifar100",
        description=f"CIFAR-100: {_SHAPE} colour images, {{num_classes}} fine classes (torchvision)",
        loader=f"{_LOADERS}:load_cifar", present=f"{_LOADERS}:_cifar_present", embedded=False,
        channels=3, image_size=32, num_classes=100, train_size=50_000, test_size=10_000,
    ),
)  # fmt: skip
