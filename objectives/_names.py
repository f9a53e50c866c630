"""Names that code which only reads a study needs, as plain data: importing this module imports
nothing else of layerlab (no torch), so ``study status`` can use them without the ~2 s of CPU that
importing torch costs."""

# The one list of the metrics a classification trial stores as user attributes (FitResult.metrics()
# keys). The batched path (objectives._repeats), the skip objective, the results table and the
# trial.json summary all derive theirs from it.
TRIAL_METRICS = (
    "val_accuracy", "val_loss", "test_accuracy", "test_loss", "test_error", "params",
    "flops", "train_seconds", "images_per_second", "best_epoch", "epochs_run",
    "stopped_early", "confusion", "history",
)  # fmt: skip
# The scalar ones (per-trial columns of a results table; confusion and history are arrays).
SCALAR_METRICS = tuple(k for k in TRIAL_METRICS if k not in ("confusion", "history"))

# The objectives ``objectives`` registers when imported (a test checks this against the registry):
# a stored spec naming one of these is valid without importing the objectives, and so torch.
BUILTIN_OBJECTIVES = ("classify", "skip_layers", "synthetic")

# The names the built-in registries hold once imported, as plain data, so that a typo in a preset,
# family or ``--set`` key is refused before torch is imported (objectives._known; a test checks each
# list against its registry, so adding a family or key there fails the test until it is listed here
# too). Datasets need no list here: their registry, objectives.catalog, is itself torch-free.
BUILTIN_FAMILIES = ("baseline_cnn", "cifar_resnet", "fcl", "resnet", "seq", "skip_cnn", "vgg")
BUILTIN_CONFIG_KEYS = (
    "activation", "alpha", "augment", "base_width", "batch_size", "beta1", "beta2", "bn", "bn_eps", "bn_momentum",
    "channels", "color_brightness", "color_contrast", "color_saturation", "conv_layers", "cutmix_alpha",
    "cutout_scale", "dataset", "depth", "diverge_loss", "drop_rate", "dropout", "early_stopping", "epochs", "eps",
    "eval_test_every_epoch", "exit_adapter", "family", "fc_units", "fc_width", "fill_mode", "filter",
    "filter_kernel", "filter_order", "first_kernel", "gamma", "grad_clip", "head", "in_channels", "init",
    "initial_accumulator", "input_size", "kernel_size", "l1", "l2", "label_smoothing", "layers", "leaky_slope", "lr",
    "medmnist_size", "milestones", "mixup_alpha", "momentum", "monitor", "nesterov", "normalize", "num_classes",
    "optimizer", "pad_to", "padding", "patience", "plug", "pool", "precision", "resize", "restore_best", "rho",
    "rotate_degrees",
    "router", "schedule", "se", "sharpness_factor", "shift_fraction", "shortcut", "skip_cnn3_init", "skip_maps",
    "skip_router_balance", "skip_routing", "skip_tie", "skip_top", "skip_train_on", "skip_unselected", "split",
    "split_seed", "stem", "stem_width", "subset_sampling", "synth_mean", "synth_noise", "synth_seed_sd",
    "test_size", "to_rgb", "upsample", "upsample_mode", "val_size", "variant", "weight_decay", "width_base",
    "widths", "zero_init_last", "zoom_fraction", "zoom_mode",
)  # fmt: skip
# What other tools call a config key (lower case, ``-`` read as ``_``): the "did you mean" of an
# unknown key. Misspellings of these are matched too (searchspace._errors.close_matches).
KEY_ALIASES = {
    "learning_rate": "lr", "lr_rate": "lr", "eta": "lr", "base_lr": "lr",
    "wd": "weight_decay", "decay": "weight_decay",
    "bs": "batch_size", "batch": "batch_size", "batchsize": "batch_size",
    "n_epochs": "epochs", "num_epochs": "epochs", "max_epochs": "epochs", "epoch": "epochs",
    "model": "family", "arch": "family", "architecture": "family", "network": "family", "net": "family",
    "data": "dataset", "data_set": "dataset",
    "optim": "optimizer", "opt": "optimizer", "solver": "optimizer",
    "aug": "augment", "augmentation": "augment", "augmentations": "augment",
    "dropout_rate": "dropout", "drop": "dropout", "p_dropout": "dropout",
    "order": "layers", "layer_order": "layers", "ordering": "layers",
    "filters": "channels", "n_filters": "channels", "num_filters": "channels",
    "kernel": "kernel_size", "act": "activation", "activation_fn": "activation", "nonlinearity": "activation",
    "initializer": "init", "initialization": "init", "weight_init": "init", "init_scheme": "init",
    "early_stop": "early_stopping", "scheduler": "schedule", "lr_schedule": "schedule",
    "batch_norm": "bn", "batchnorm": "bn", "norm": "bn", "num_layers": "depth", "n_layers": "depth",
}  # fmt: skip
# Study settings that are command-line flags, not config keys: ``--set seed=1`` says which flag.
FLAG_KEYS = {"seed": "--seed", "repeats": "--repeats", "n_trials": "--n-trials", "trials": "--n-trials",
             "sampler": "--sampler", "pruner": "--pruner", "preset": "--preset"}
