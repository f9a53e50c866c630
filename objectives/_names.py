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
