"""The twelve MedMNIST 2D datasets (v3) as ``medmnist.INFO`` publishes them (loader:
``objectives.data._medmnist``).

Written out so that listing, checking and pricing them imports neither torch nor medmnist (whose
package import pulls in its evaluator, scikit-learn metrics and PIL); a load reads URLs, MD5s and
class names from ``medmnist.INFO`` and checks each part's count against it, and
tests/objectives/test_data_formats.py checks this table against it.
"""

from objectives.catalog._entry import dataset_entry

MEDMNIST_SIZES = (28, 64, 128, 224)  # the published image sizes; the first is the default
# flag -> (what it shows, channels, classes, official train / val / test images)
_PUBLISHED = {
    "pathmnist": ("colon pathology", 3, 9, 89_996, 10_004, 7_180),
    "chestmnist": ("chest X-ray", 1, 14, 78_468, 11_219, 22_433),
    "dermamnist": ("dermatoscopy", 3, 7, 7_007, 1_003, 2_005),
    "octmnist": ("retinal OCT", 1, 4, 97_477, 10_832, 1_000),
    "pneumoniamnist": ("chest X-ray pneumonia", 1, 2, 4_708, 524, 624),
    "retinamnist": ("fundus", 3, 5, 1_080, 120, 400),
    "breastmnist": ("breast ultrasound", 1, 2, 546, 78, 156),
    "bloodmnist": ("blood cell microscopy", 3, 8, 11_959, 1_712, 3_421),
    "tissuemnist": ("kidney cortex microscopy", 1, 8, 165_466, 23_640, 47_280),
    "organamnist": ("abdominal CT (axial)", 1, 11, 34_561, 6_491, 17_778),
    "organcmnist": ("abdominal CT (coronal)", 1, 11, 12_975, 2_392, 8_216),
    "organsmnist": ("abdominal CT (sagittal)", 1, 11, 13_932, 2_452, 8_827),
}  # fmt: skip
# What a flag's classes are called when they are not plain classes.
_CLASS_WORDS = {"chestmnist": "labels (multi-label)", "retinamnist": "ordinal grades"}
REFUSED = {
    "chestmnist": (
        "it is multi-label (14 findings, several per image) and layerlab trains single-label softmax "
        "classifiers scored by accuracy, which would misrepresent it; use another MedMNIST flag"
    ),
}
# flag -> the blurb ``data list`` shows after "MedMNIST <flag>: "
MEDMNIST_FLAGS = {
    flag: f"{what}, {classes} {_CLASS_WORDS.get(flag, 'classes')}, {'RGB' if channels == 3 else 'gray'}"
    for flag, (what, channels, classes, *_) in _PUBLISHED.items()
}
_SIZES_TEXT = "|".join(map(str, MEDMNIST_SIZES))

DATASETS = tuple(
    dataset_entry(
        name=flag,
        description=f"MedMNIST {flag}: {MEDMNIST_FLAGS[flag]} (medmnist_size {_SIZES_TEXT})",
        loader="objectives.data._medmnist:load_medmnist", present="objectives.data._medmnist:medmnist_present",
        embedded=False, sizes=MEDMNIST_SIZES, refused=REFUSED.get(flag, ""),
        channels=channels, image_size=MEDMNIST_SIZES[0], num_classes=classes,
        train_size=train, val_size=val, test_size=test,
    )
    for flag, (_, channels, classes, train, val, test) in _PUBLISHED.items()
)  # fmt: skip
