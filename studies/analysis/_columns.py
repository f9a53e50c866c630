"""What each known column of the analysis frames is called in the report, what it means (the
header's tooltip and the note under the table) and what a "—" in it means. Read by
:mod:`studies.analysis._format`; a column not listed here shows with a readable header and no note."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    header: str  # what the table shows
    help: str  # the tooltip and footnote
    missing: str | None = None  # what a "—" in this column means (printed under a table that has one)


CI_HELP = ("95% confidence interval of the mean: Student t below 10 runs, BCa bootstrap from 10 on; "
           "accuracies clipped to [0, 1]")

# Known columns of the analysis frames. Anything else is shown with a readable header and no note.
COLUMNS: dict[str, Column] = {
    # leaderboard
    "rank": Column("Rank", "position by mean objective, best first"),
    "label": Column("Config", "the parameters that differ between configs (hover for the full value)"),
    "config_id": Column("Config id", "stable hash of the resolved config; groups the seed repeats of one config"),
    "n": Column("Runs", "completed trials (seed repeats) of this config"),
    "val_mean": Column("Objective (mean)", "mean objective over the runs: validation accuracy for layerlab's "
                       "objectives; the selection metric"),
    "val_std": Column("Objective SD", "standard deviation of the objective over the runs (seed noise)"),
    "val_ci": Column("Objective 95% CI", CI_HELP),
    "ci_method": Column("CI method", "how the interval was computed (t: Student t; bca: bias-corrected bootstrap)"),
    "test_mean": Column("Test acc. (mean)", "mean test accuracy: reported beside the objective, never used to rank"),
    "test_std": Column("Test SD", "standard deviation of test accuracy over the runs"),
    "test_ci": Column("Test 95% CI", CI_HELP),
    "ci_clipped": Column("CI clipped", "yes: an interval was clipped to its metric's range ([0, 1] for accuracies, "
                         "[-1, 1] for their differences), because a t interval over few runs ignores the bound"),
    "model_params": Column("Parameters", "trainable parameters of the model"),
    "vs_best": Column("Verdict vs best", "this config against the best one: paired by seed on the study's pooled seed "
                      "noise, Tukey's all-pairs adjustment (the best is picked by the same data) over "
                      "all configs; 'no detectable difference' means these seeds cannot separate them"),
    # ablation
    "verdict": Column("Verdict", "better / worse than the baseline at the study's alpha, simultaneous over all rows "
                      "(Dunnett against a baseline, Tukey against the best config); "
                      "'no detectable difference' is not evidence of no effect (see the verdict section)"),
    "variant": Column("Variant", "the config compared with the baseline"),
    "baseline": Column("Baseline", "the baseline config it is compared with (same other parameters)"),
    "changed": Column("Changed", "parameters whose value differs from the baseline"),
    "n_variant": Column("Runs (variant)", "completed runs of the variant"),
    "n_baseline": Column("Runs (baseline)", "completed runs of the baseline"),
    "n_pairs": Column("Pairs", "runs paired by seed (repeat r of both configs trained with the same seed)"),
    "design": Column("Design", "paired by seed, or unpaired when the runs share no seeds"),
    "test": Column("Test", "the significance test used"),
    "variant_mean": Column("Variant (mean)", "mean objective of the variant"),
    "baseline_mean": Column("Baseline (mean)", "mean objective of the baseline"),
    "delta": Column("Δ objective", "variant minus baseline, mean over paired runs (accuracy points as a fraction)"),
    "delta_ci": Column("Δ simultaneous 95% CI", "the interval that made the verdict: simultaneous over all rows, "
                       "widened by one image of the evaluation set; it excludes 0 exactly when the verdict does"),
    "test_delta": Column("Δ test acc.", "variant minus baseline on test accuracy: reported, not tested"),
    "test_delta_ci": Column("Δ test 95% CI", "95% confidence interval of the test difference"),
    "p_value": Column("p", "p-value of the test, before multiple-comparison correction"),
    "p_adj": Column("p (adjusted)", "p-value adjusted over every row of the table by the method the header names "
                    "(Dunnett, Tukey or max-t): the one the verdict uses", "not tested (fewer than 2 runs)"),
    "vs_best_p": Column("p vs best (Tukey)", "p-value of the comparison with the best config, adjusted over all pairs "
                        "of configs (Tukey; Bonferroni for a config noisier than the pool): the one 'Verdict vs best' "
                        "uses", "the best config itself, or not tested"),
    # per-choice effects of a sampled study
    "contrast": Column("Effect of", "a level against the reference level; a numeric parameter's trend (the fitted "
                       "change from the low to the high end of its searched range) or its curvature (fitted middle "
                       "minus the mean of the two ends)"),
    "effect": Column("Effect", "change of the objective, adjusted for every other parameter (OLS of the configs' mean "
                     "objective on their parameters)"),
    "effect_ci": Column("Simultaneous 95% CI", "the interval that made the verdict: simultaneous over every effect "
                        "(max-t); it excludes 0 exactly when the verdict does"),
    "effect_ci_unadjusted": Column("95% CI (unadjusted)", "the plain 95% interval of this effect alone"),
    "configs_needed": Column("Configs to decide", "sampled configs (at the current repeats each) at which this effect "
                             "would be detected with 80% power, if it is the true one",
                             "already decided, or more than 100,000 configs would be needed (an effect this small is "
                             "negligible next to the noise)"),
    "kind": Column("Kind", "level: a categorical choice against the reference; trend / curvature: a numeric parameter"),
    "n_configs": Column("Configs", "configs that sampled this level (all configs for a numeric parameter)"),
    "se": Column("SE", "standard error of the effect"),
    "p_noise": Column("p (noise)", "the noise verdict's p-value: permutation null (or the ANOVA's F-test), Holm over "
                      "the parameters"),
    "importance_ci": Column("Importance 95% CI", "noncentral-F interval of the ANOVA's share; percentile bootstrap for "
                            "the other evaluators (when run)",
                            "not computed (no bootstrap, or not shown: see the verdict)"),
    "id": Column("Config", "short config ID (c01 is rank 1); the legend lists each ID's parameters"),
    "delta_ci_unadjusted": Column("Δ 95% CI (unadjusted)", "the plain 95% interval of this row alone: it can "
                                  "exclude 0 without a verdict, because a verdict is simultaneous over all rows"),
    "correction": Column("Adjustment", "how this row's p-value was adjusted"),
    "noise_source": Column("Noise", "pooled: the seed noise of the whole study; paired: this pair's own differences "
                           "(a config noisier than the pool)"),
    "p_holm": Column("p (Holm)", "p-value after Holm-Bonferroni correction over every row of the table: the one the "
                     "verdict uses"),
    "repeats_needed": Column("Repeats to decide", "seed repeats per config that would give 80% power to detect the "
                             "observed difference (noncentral t with the family's critical value; a guide that "
                             "assumes the observed difference is the true one)",
                             "already decided, or more seeds alone would not decide it (the difference is within one "
                             "image of the evaluation set, the evaluation set's own noise is larger, or more than "
                             "1,000 repeats per config would be needed)"),
    "more_repeats": Column("More repeats", "repeats to add to the current ones to reach 80% power"),
    "mde": Column("Min. detectable effect", "the smallest difference these runs detect with 80% power",
                  "no spread to compute it from (a single run, or a comparison that was not tested)"),
    "power": Column("Power", "probability of detecting the observed difference with these runs"),
    # importance
    "evaluator": Column("Evaluator", "Optuna's importance evaluator"),
    "parameter": Column("Parameter", "the searched parameter"),
    "importance": Column("Importance", "the ANOVA: partial omega-squared (share of the objective's variance net of the "
                         "other parameters and the seed); Optuna's evaluators: normalised to sum to 1",
                         "not shown: the noise verdict cannot tell this parameter from noise"),
    "ci": Column("95% CI", "bootstrap 95% confidence interval over resampled seeds"),
    # rank transfer
    "config": Column("Config", "the config matched between the two studies (hover for the full value)"),
    "rank_a": Column("Rank A", "rank in the first study"), "rank_b": Column("Rank B", "rank in the second study"),
    "mean_a": Column("Mean A", "mean metric in the first study"),
    "mean_b": Column("Mean B", "mean metric in the second study"),
    "ci_a": Column("95% CI A", CI_HELP), "ci_b": Column("95% CI B", CI_HELP),
    "config_1": Column("Config 1", "first config of a pair"),
    "config_2": Column("Config 2", "second config of the pair"),
    "a": Column("A", "value in the first study"), "b": Column("B", "value in the second study"),
    "gap": Column("Gap", "how far apart the pair is: |difference in A| + |difference in B|"),
    "status": Column("Settled", "agree / disagree: both studies order the pair beyond noise (Tukey-Kramer), alike or "
                     "oppositely; unsettled: at least one cannot"),
    "settled_a": Column("Settled A", "+1 / -1: study A orders config 1 above / below config 2 beyond noise; "
                        "0: it cannot"),
    "settled_b": Column("Settled B", "the same in study B"),
    "settled": Column("Settled pairs", "pairs both slices order beyond noise (Tukey-Kramer simultaneous intervals)"),
    "agree": Column("Agree", "settled pairs ordered alike by both"),
    "concordance_low": Column("Concordance ≥", "95% one-sided exact (Clopper-Pearson) bound of the concordance of "
                              "the settled pairs"),
    "tau": Column("Kendall τ", "rank correlation of the configs' mean objective: 1 same order, 0 unrelated, "
                  "-1 reversed"),
    "tau_ci": Column("τ 95% CI", "95% interval of Kendall tau between the true config means (docs/importance.md)"),
    "rho": Column("Spearman ρ", "Spearman rank correlation of the configs' mean objective"),
    "n_shared": Column("Shared configs", "configs present in both slices"),
    # objective metrics, datasets
    "size": Column("Image size", "height x width x channels"),
    "images": Column("Images", "images in the official train + test parts"),
    "classes": Column("Classes", "number of classes"),
}
