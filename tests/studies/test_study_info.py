"""What optuna-dashboard shows on a layerlab study (studies.engine._study_info): the objective's name, the
spec as readable attributes, and the best config by its mean over seeds, not the luckiest seed."""

from __future__ import annotations

import optuna

from searchspace import Categorical, Float, Space
from studies import StudySpec
from searchspace._pin import build_space
from studies.engine._study_info import BEST_ATTR, best_config, describe_study, mark_best_config, spec_attributes


def _spec() -> StudySpec:
    space = build_space({"family": "seq", "dataset": "digits", "epochs": 2},
                        Space([Categorical("layers", choices={"full": "Conv-BN-PL-FCL-AL", "no-BN": "Conv-PL-FCL-AL"}),
                               Float("lr", low=1e-4, high=0.1, log=True)]))
    return StudySpec(space=space, name="mine", sampler="tpe", n_trials=8, repeats=3, pruner="median")


def test_the_spec_reads_as_separate_attributes_and_the_objective_is_named():
    study = optuna.create_study(direction="maximize")
    describe_study(study, _spec())
    attrs = study.user_attrs
    assert study.metric_names == ["val_accuracy"]
    assert attrs["spec.sampler"] == "tpe" and attrs["spec.repeats"] == 3 and attrs["spec.n_trials"] == 8
    assert attrs["space.layers"] == "categorical: full | no-BN"
    assert attrs["space.lr"] == "float 0.0001..0.1, log"
    assert attrs["spec.fixed"] == "family=seq, dataset=digits, epochs=2"
    assert set(spec_attributes(_spec())) <= set(attrs)


def test_the_best_config_is_the_best_mean_over_seeds_not_the_luckiest_seed():
    study = optuna.create_study(direction="maximize")
    dist = {"layers": optuna.distributions.CategoricalDistribution(["full", "no-BN"])}
    for layers, values in {"full": [0.95, 0.96, 0.97], "no-BN": [0.99, 0.90, 0.91]}.items():
        for value in values:
            study.add_trial(optuna.trial.create_trial(params={"layers": layers}, distributions=dist, value=value))
    assert study.best_trial.params == {"layers": "no-BN"}  # Optuna's best trial: one lucky seed
    best = best_config(study)
    assert best["label"] == "layers=full" and best["n"] == 3 and best["trials"] == [0, 1, 2]
    mark_best_config(study)
    assert study.user_attrs[BEST_ATTR] == "layers=full: mean val_accuracy 0.9600 over 3 seeds (trials 0, 1, 2)"
    assert best_config(optuna.create_study()) is None
