"""Racing seed repeats: spend repeats only on configs whose question is still open.

A race is a grid study run in rounds. Every config starts with ``min_repeats`` seeds; at the end
of each round (a *look*, every config then has ``n`` seeds) the open configs are tested, the
decided ones stop, and each config still open gets one more seed (repeat ``n``), until none is
open or ``n`` reaches ``max_repeats``. Repeat ``r`` of every config trains with seed
``seed + r``, so configs are compared **paired by seed**, as in the ablation table.

Two questions (``mode``):

- ``ablation``: is each config better than, worse than or (with a ``margin``) equivalent to the
  baseline? Hypothesis per config: ``H_c: mu_c = mu_baseline``, two-sided t-test of the paired
  mean difference on the design's seed noise pooled over every config's seeds so far
  (:mod:`studies._design`, as the report tests a fixed grid); a config the pool flags as noisier
  keeps the paired t-test on its own differences (``scipy.stats.ttest_rel``). The baseline runs
  as long as any config is open. Equivalence within +-margin is the two one-sided tests (TOST, Schuirmann 1987,
  ``scipy.stats.ttest_1samp`` with ``alternative``).
- ``selection``: is each config in the top set? Hypothesis per config: ``H_i: mu_i >= mu_j`` for
  every other ``j`` (i is a best config). It is rejected -- the config is eliminated as worse --
  when a one-sided test shows it below some other open config, at a Bonferroni level over the
  ``k - 1`` possible opponents. This is F-race's elimination (Birattari et al. 2002; irace,
  Lopez-Ibanez et al. 2016, with its paired t-test option), with strong family-wise error
  control in place of F-race's unadjusted post-hoc tests. The test is the randomized-block
  t-test of Tukey's, Dunnett's and Hsu's (1984, multiple comparisons with the best) procedures:
  the mean difference over the pair's common seeds divided by the pooled standard error -- the
  residual mean square of the two-way (config x seed) model over the first look's block, every
  config at ``min_repeats`` seeds, :func:`block_variance` -- against Student t with the block's
  ``(k - 1)(min_repeats - 1)`` degrees of freedom (a paired t-test on 3 seeds has 2). A pair
  whose own paired standard error is larger than the pooled one gets the paired t-test, and so
  does every pair when the block has no more degrees of freedom than the pair (few configs, late
  looks).

Error control over the whole race (every look, every config):

1. **Alpha spending over the planned looks** ``n = min_repeats .. max_repeats`` (Lan & DeMets
   1983) with the power-family spending function ``f(t) = alpha * t**rho``, ``t = n /
   max_repeats`` (Kim & DeMets 1987), rho = :data:`SPENDING_RHO` = 10: nearly all of alpha is
   kept for the last look, and a clear effect still crosses the tiny early levels. The first
   crossing at look ``k`` has null probability ``f(t_k) - f(t_{k-1})``. The per-look nominal
   levels that achieve this are computed once by Monte Carlo over 400,000 null sequences
   (:func:`nominal_levels`): of the paired t-test, whose statistics do not depend on the noise SD,
   and of a z-process for the tests on the pooled noise; both use the looks' correlation (they
   share seeds), which Bonferroni over looks would waste. Measured in
   ``benchmarks/calib_racing.py``: an even (Pocock-like) spending lost 3-4 points of accuracy
   against a fixed 10-seed grid on medium effects, and rho = 3 lost 3 points of power at 1 SD.
2. **Holm across configs, with alpha recycling across looks** (Holm 1979; the graphical
   group-sequential procedure of Maurer & Bretz 2013): at each look the open hypotheses are
   tested step-down, each at its share of ``increment`` among the ``m_remaining`` hypotheses not
   rejected so far (at this or any earlier look; configs stopped as equivalent keep counting):
   ``1 / m_remaining`` for paired tests, Dunnett's per-comparison level for tests on the pooled
   noise, whose contrasts against the one baseline correlate 0.5 (:func:`_share`). The
   Bonferroni version is a shortcut of a closed test whose local tests are Bonferroni over looks
   and hypotheses, so it controls the family-wise error rate in the strong sense at ``alpha``;
   the Dunnett share is measured to keep it (benchmarks/calib_racing.py): the probability of any
   false "better"/"worse" verdict (ablation), or of eliminating any truly best config
   (selection), is at most ``alpha`` whatever the true means. TOST equivalence verdicts form a
   second family at ``alpha`` (Bonferroni, no recycling).
3. **Non-binding futility** (ablation): a config whose predictive power (the chance of a
   verdict at the last look, averaged over what the data say the effect may be; Spiegelhalter,
   Freedman & Blackburn 1986) is below ``futility`` (0.02) stops as "no difference". It only
   removes chances to reject, so 1 and 2 still hold; it is what lets a race stop the configs that
   do not differ from the baseline, which are otherwise run to ``max_repeats``. The conditional
   power at the current trend, used before, took a noisy early estimate as the truth and stopped
   66% of real 1-SD effects early.

In selection mode the look's level is the spending increment itself (Bonferroni over looks, valid
for any test), since the Monte Carlo levels are those of the paired t-test.

The guarantee rests on the paired t-test's p-values being valid at each look (normal seed-level
differences; the t-test is robust to mild departures). Selection's block-design test is exact
(conservative) under the normal two-way model with one noise SD for every config (see
:func:`_look_selection`). With unequal noise SDs that model is wrong: the paired rejections stay
exact, and the block test is used only for a pair whose own spread is no larger than the
block's; benchmarks/calib_racing.py and docs/racing.md measure the family-wise error with SDs
from 0.5 to 4, and with one config 10 times noisier among 15. The paired test itself sits behind
one seam, :func:`compare_paired`, so the analysis' own comparison can replace it.

Everything here is a pure function of the values observed: :func:`replay` recomputes the race
from the cells alone, so the race state lives in storage, not in any worker's memory.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from searchspace.errors import RaceError
from studies._design import beyond_resolution
from studies._spec import StudyError

# transfer: two studies, studies.engine._race_transfer (not replayed here)
MODES = ("ablation", "selection", "transfer")
RACE_ATTR = "layerlab_race"  # study user attribute holding the race's settings


@dataclass(frozen=True)
class RaceSettings:
    """How a race spends seeds (``study launch --race``)."""

    min_repeats: int = 3  # seeds every config gets before the first look
    max_repeats: int = 10  # seeds no config goes beyond (the last look)
    alpha: float = 0.05  # family-wise error rate of the race's verdicts
    mode: str | None = None  # ablation | selection | transfer (None: ablation with a baseline, else selection)
    margin: float | None = None  # ablation: |delta| < margin is "equivalent" (TOST); None: no equivalence
    futility: float = 0.02  # ablation: stop a config whose predictive power is below this; 0: never

    def __post_init__(self) -> None:
        from studies._options import check_options

        for name in ("min_repeats", "max_repeats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise RaceError(
                    f"--{name.replace('_', '-')} must be an integer >= 2 (a paired test needs 2 seeds), got {value!r}"
                )
        if self.min_repeats > self.max_repeats:
            raise RaceError(
                f"--min-repeats ({self.min_repeats}) must not exceed --max-repeats ({self.max_repeats})"
            )
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or not 0 < self.alpha < 1:
            raise RaceError(f"--alpha must lie strictly between 0 and 1, got {self.alpha!r}")
        if self.mode is not None and self.mode not in MODES:
            raise RaceError(f"unknown --race-mode {self.mode!r}; valid: {', '.join(MODES)}")
        if not isinstance(self.futility, (int, float)) or not 0 <= self.futility < 1:
            raise RaceError(f"--futility must lie in [0, 1), got {self.futility!r}")
        if self.margin is not None and (not isinstance(self.margin, (int, float)) or not self.margin > 0):
            raise RaceError(f"--margin must be a number > 0, got {self.margin!r}")
        # and the ranges of studies._options (NaN, infinities, seeds beyond 32 bits)
        check_options(min_repeats=self.min_repeats, max_repeats=self.max_repeats, alpha=self.alpha, margin=self.margin,
                      futility=self.futility)

    @property
    def looks(self) -> list[int]:
        """The seed counts at which the race looks: min_repeats .. max_repeats."""
        return list(range(self.min_repeats, self.max_repeats + 1))

    def level(self, n: int) -> float:
        """The alpha this race spends at the look with ``n`` seeds (the spending increment)."""
        return spent(n, self) - (spent(n - 1, self) if n > self.min_repeats else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RaceSettings:
        return cls(**{k: data[k] for k in ("min_repeats", "max_repeats", "alpha", "mode", "margin", "futility")
                      if k in data})


# Power-family exponent of the alpha spending: 1 spends evenly (Pocock-like), 3 is close to
# O'Brien-Fleming. 10 keeps almost all of alpha for the last look: at 3 seeds a clear effect
# (e.g. 8 SD) still crosses the tiny early level, and the last look then loses no power against
# a fixed design (calibration, issue #21: rho = 3 lost 3 points of power at 1 SD; 10 loses none).
SPENDING_RHO = 10


def spent(n: int, settings: RaceSettings) -> float:
    """Alpha spent by the look with ``n`` seeds: the power-family spending function
    ``alpha * t**rho`` of Kim & DeMets (1987) in the Lan & DeMets (1983) framework."""
    return settings.alpha * (n / settings.max_repeats) ** SPENDING_RHO


# -- group-sequential boundaries ----------------------------------------------------------------

NULL_PATHS = 400_000  # Monte Carlo paths of the sequential t-test under H0 (seeded: same boundaries everywhere)


@functools.lru_cache(maxsize=8)
def _null_pvalues(min_repeats: int, max_repeats: int, one_sided: bool, pooled: bool = False) -> np.ndarray:
    """p-values of the paired t-test at every look along NULL_PATHS null sequences.

    Under H0 the differences are i.i.d. N(0, s^2) and the t statistic does not depend on s, so
    the joint law of the looks' p-values is the same for every config pair: one simulation
    serves every test of every race with these looks. ``pooled``: the test on the design's
    pooled seed noise, whose many degrees of freedom make the looks' statistics a z-process
    (Brownian increments; the variance taken as known)."""
    from scipy import special  # here: scipy.special's import (~0.2 s) is kept off `study status`
    rng = np.random.default_rng(20_260_611)
    d = rng.standard_normal((NULL_PATHS, max_repeats)).astype(np.float64)
    n = np.arange(1, max_repeats + 1)
    total, squares = np.cumsum(d, axis=1), np.cumsum(d * d, axis=1)
    mean = total / n
    cols = slice(min_repeats - 1, max_repeats)
    if pooled:
        z = (mean * np.sqrt(n))[:, cols]
        p = special.ndtr(z) if one_sided else 2 * special.ndtr(-np.abs(z))
        return p.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (squares - n * mean * mean) / (n - 1)
        t = mean / np.sqrt(var / n)
    df = (n - 1)[cols]
    p = special.stdtr(df, t[:, cols]) if one_sided else 2 * special.stdtr(df, -np.abs(t[:, cols]))
    return p.astype(np.float32)


@functools.lru_cache(maxsize=512)
def nominal_levels(gamma: float, min_repeats: int, max_repeats: int, one_sided: bool = False,
                   pooled: bool = False) -> tuple[float, ...]:
    """Per-look nominal p-value levels of a group-sequential paired t-test at overall level
    ``gamma``: the first crossing at look k has null probability ``gamma * (g(t_k) - g(t_{k-1}))``
    with ``g`` the race's spending shape (:func:`spent`). The first look's level is exact
    (its p-value is uniform); later ones are quantiles of the Monte Carlo null paths that have
    not crossed yet (:func:`_null_pvalues`), which accounts for the looks' strong correlation
    (they share their seeds). Never below the Bonferroni increment, which is valid without it."""
    p = _null_pvalues(min_repeats, max_repeats, one_sided, pooled)
    shape = RaceSettings(min_repeats=min_repeats, max_repeats=max_repeats, alpha=gamma)
    alive = np.ones(len(p), dtype=bool)
    levels = []
    for k, n in enumerate(shape.looks):
        target = shape.level(n)
        level = target
        if k > 0:
            count = int(target * len(p))
            column = p[alive, k]
            if 0 < count < len(column):
                level = max(target, float(np.partition(column, count)[count]))
        alive &= p[:, k] >= level
        levels.append(level)
    return tuple(levels)


# -- the test seam ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of config ``a`` with config ``b`` on their common seeds."""

    n: int  # common seeds
    delta: float  # mean of a - b
    p: float  # two-sided p of mu_a = mu_b
    p_equivalent: float = 1.0  # TOST p of |mu_a - mu_b| >= margin (1 without a margin)
    pooled: bool = False  # tested on the design's pooled seed noise (else the pair's own differences)


def compare_paired(a: Sequence[float], b: Sequence[float], *, margin: float | None = None,
                   resolution: float = 0.0) -> Comparison:
    """Paired t-test of ``a`` vs ``b`` (same seeds, same order): the race's only statistical test.

    Equal to ``scipy.stats.ttest_rel(a, b)``; TOST equivalence (Schuirmann 1987) is the larger
    of the two one-sided ``scipy.stats.ttest_1samp(a - b, -+margin)`` p-values. The p-value is the
    report's seed-level test (``studies.analysis._paired.compare_paired`` without per-image data;
    tests/studies/test_race.py checks they agree): when every seed differs by the same amount the
    data carry no estimate of the noise, a t-test would call it infinitely significant, and both
    use the exact sign-flip test instead (p = 2 / 2**n). ``resolution``: the smallest difference the
    values can express (one image of the evaluation set, :func:`resolution_of`): the p-value tests
    |mu| <= resolution, as the report's does, so a one-image difference is never a verdict."""
    from scipy import special  # here: scipy.special's import (~0.2 s) is kept off `study status`
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(diff)
    if n < 2:
        return Comparison(n, float(diff.mean()) if n else float("nan"), 1.0)
    delta = float(diff.mean())
    sd = float(diff.std(ddof=1))
    excess = beyond_resolution(delta, resolution)
    if delta == 0.0 and sd == 0.0:
        return Comparison(n, delta, 1.0)
    if sd <= 1e-9 * abs(delta) or not math.isfinite(sd) or (resolution > 0 and sd <= resolution):
        # every seed moved by the same amount (up to the values' resolution): the exact sign-flip
        # test, as the report's studies.analysis._paired.compare_paired does (a t-test would say
        # p = 0), and never a verdict for a shift within the resolution
        return Comparison(n, delta, min(1.0, 2.0 / 2**n) if excess > 0 else 1.0)
    # ttest_rel's statistic and p-value, computed directly: a race replays thousands of these and
    # ttest_rel's input checks dominate its cost (tests/studies/test_race.py checks the equality).
    se = sd / math.sqrt(n)
    p = float(2 * special.stdtr(n - 1, -excess / se))
    p_eq = 1.0
    if margin is not None:  # TOST: H0 delta <= -margin (one-sided up) and H0 delta >= margin (down)
        p_eq = float(max(special.stdtr(n - 1, -(delta + margin) / se), special.stdtr(n - 1, (delta - margin) / se)))
    return Comparison(n, delta, p, p_eq)


# -- the race as a function of its cells -------------------------------------------------------

DONE, PENDING = "done", "pending"


@dataclass
class Decision:
    # ablation: better | worse | equivalent | no difference | baseline; selection: eliminated | winner | top set
    verdict: str
    n: int  # seeds when decided
    round: int  # round when decided (0: the first look, after min_repeats seeds)
    reason: str  # one phrase: which test, at which level
    p: float | None = None
    delta: float | None = None


@dataclass
class RaceState:
    """Where a race stands, recomputed from its cells by :func:`replay`."""

    settings: RaceSettings
    mode: str
    n: int  # seeds of the current round (its look happens when they are all done)
    round: int  # 0-based: round 0 runs the first min_repeats seeds
    finished: bool
    open: list[Hashable]  # configs whose question is open
    decisions: dict[Hashable, Decision]  # decided (and, when finished, every config)
    to_queue: list[tuple[Hashable, int]] = field(default_factory=list)  # (config, repeat) cells missing
    repeats: dict[Hashable, int] = field(default_factory=dict)  # seeds asked of each config so far
    baseline: Hashable | None = None

    @property
    def trials(self) -> int:
        return sum(self.repeats.values())

    @property
    def trials_fixed(self) -> int:
        """What every config at max_repeats would cost."""
        return len(self.repeats) * self.settings.max_repeats

    @property
    def saved(self) -> float:
        return 1.0 - self.trials / self.trials_fixed if self.trials_fixed else 0.0


def resolve_mode(settings: RaceSettings, baseline: Hashable | None) -> str:
    if settings.mode is not None:
        return settings.mode
    return "ablation" if baseline is not None else "selection"


def replay(
    configs: Sequence[Hashable],
    cells: Mapping[tuple[Hashable, int], tuple[str, float | None]],
    settings: RaceSettings,
    *,
    baseline: Hashable | None = None,
) -> RaceState:
    """Recompute the race from its cells: ``cells[(config, repeat)] = (DONE, value or None)`` or
    ``(PENDING, None)``; a missing key is a cell not queued yet. Looks happen in order while
    their cells are all done; the state stops at the first round still running or not queued
    (``to_queue``: the cells to queue next). Cells beyond what the race asked for are ignored,
    so the same cells always give the same state."""
    mode = resolve_mode(settings, baseline)
    if mode == "ablation" and baseline is None:
        raise RaceError("an ablation race needs a baseline config in the grid (set baseline in the preset, "
                        "or use --race-mode selection)")
    configs = list(configs)
    rivals = [c for c in configs if c != baseline] if mode == "ablation" else list(configs)
    open_ = list(rivals)
    decisions: dict[Hashable, Decision] = {}
    rejected = 0  # hypotheses rejected so far (Holm's alpha recycling)
    block = None  # selection: the first look's pooled noise variance (block_variance)
    resolution = resolution_of(cells)  # one image: a shift no larger is never a verdict
    n = settings.min_repeats
    repeats = {c: settings.min_repeats for c in configs}
    while True:
        active = [*([baseline] if mode == "ablation" else []), *open_]
        if n == settings.min_repeats:
            active = configs
        needed = [(c, r) for c in active for r in range(n)]
        missing = [cell for cell in needed if cell not in cells]
        round_ = n - settings.min_repeats
        if missing or any(cells[cell][0] != DONE for cell in needed):
            return RaceState(settings, mode, n, round_, False, open_, decisions, missing, repeats, baseline)
        values = {c: {r: cells[(c, r)][1] for r in range(n)} for c in active}
        all_values = {c: {r: cells[(c, r)][1] for r in range(repeats[c]) if cells.get((c, r), (None,))[0] == DONE}
                      for c in configs}
        level = settings.level(n)
        if mode == "ablation":
            rejected += _look_ablation(values, open_, baseline, n, round_, level, len(rivals) - rejected, settings,
                                       decisions, resolution, all_values)
        else:
            if n == settings.min_repeats:
                block = block_variance(cells, configs, n)
            rejected += _look_selection(values, open_, n, round_, settings, len(rivals) - rejected, len(rivals),
                                        decisions, block, resolution)
        open_ = [c for c in open_ if c not in decisions]
        if len(open_) <= (1 if mode == "selection" else 0) or n == settings.max_repeats:
            _close(mode, open_, decisions, n, round_, baseline, settings)
            return RaceState(settings, mode, n, round_, True, [], decisions, [], repeats, baseline)
        n += 1
        for c in [*([baseline] if mode == "ablation" else []), *open_]:
            repeats[c] = n


def _paired(values: Mapping[Hashable, Mapping[int, float | None]], a: Hashable, b: Hashable, margin=None,
            resolution: float = 0.0) -> Comparison:
    seeds = [r for r in values[a] if values[a][r] is not None and values[b].get(r) is not None]
    return compare_paired([values[a][r] for r in seeds], [values[b][r] for r in seeds], margin=margin,
                          resolution=resolution)


def resolution_of(cells: Mapping[tuple[Hashable, int], tuple[str, float | None]]) -> float:
    """One image of the evaluation set, inferred from the race's accuracies (each k / N; see
    :func:`studies._design.infer_images`), else two float32 steps of the values."""
    values = tuple(sorted({round(float(v), 9) for state, v in cells.values() if state == DONE and v is not None}))
    return _resolution(values)


@functools.lru_cache(maxsize=64)
def _resolution(values: tuple[float, ...]) -> float:
    from studies._design import float32_step, infer_images

    n = infer_images(values)
    return 1.0 / n if n else float32_step(values)


def _pooled_tests(values, all_values, open_, baseline, margin, resolution) -> dict[Hashable, Comparison]:
    """Each open config against the baseline on the design's pooled seed noise
    (:mod:`studies._design`: every config's seeds so far, stopped configs included), as the report
    does; a config flagged as noisier than the pool (or the baseline) keeps its paired t."""
    from scipy import special

    from studies._design import seed_noise

    noise = seed_noise(all_values)
    out = {}
    for c in open_:
        paired = _paired(values, c, baseline, margin, resolution)
        if noise is None or not noise.uses_pool(c, baseline) or paired.n < 2:
            out[c] = paired
            continue
        se = math.sqrt(2 * noise.pooled_var / paired.n)
        excess = beyond_resolution(paired.delta, resolution)
        p = float(2 * special.stdtr(noise.pooled_df, -excess / se))
        p_eq = 1.0
        if margin is not None:
            p_eq = float(max(special.stdtr(noise.pooled_df, -(paired.delta + margin) / se),
                             special.stdtr(noise.pooled_df, (paired.delta - margin) / se)))
        out[c] = Comparison(paired.n, paired.delta, p, p_eq, pooled=True)
    return out


def _look_ablation(values, open_, baseline, n, round_, level, m_remaining, settings, decisions, resolution=0.0,
                   all_values=None) -> int:
    """Holm step-down over the open configs vs the baseline at this look's level; then TOST.

    Tests on the pooled seed noise use the group-sequential levels of a z-process (their many
    degrees of freedom), paired ones those of the paired t (:func:`nominal_levels`)."""
    tests = _pooled_tests(values, all_values or values, open_, baseline, settings.margin, resolution)
    rejected = 0
    look = n - settings.min_repeats
    for c in sorted(open_, key=lambda c: tests[c].p):
        gamma = _share(settings.alpha, max(1, m_remaining - rejected), tests[c].pooled)
        threshold = nominal_levels(gamma, settings.min_repeats, settings.max_repeats, pooled=tests[c].pooled)[look]
        if tests[c].p >= threshold:
            break
        verdict = "better" if tests[c].delta > 0 else "worse"
        test = "pooled-noise t" if tests[c].pooled else "paired t"
        decisions[c] = Decision(verdict, n, round_,
                                f"{test} p={tests[c].p:.2g} < {threshold:.2g} (Holm, look {round_ + 1})",
                                tests[c].p, tests[c].delta)
        rejected += 1
    if settings.margin is not None:
        equiv_level = level / max(1, len(values) - 1)  # Bonferroni over all rivals
        for c in open_:
            if c not in decisions and tests[c].p_equivalent < equiv_level:
                decisions[c] = Decision("equivalent", n, round_,
                                        f"TOST within +-{settings.margin:g}: "
                                        f"p={tests[c].p_equivalent:.2g} < {equiv_level:.2g}",
                                        tests[c].p_equivalent, tests[c].delta)
    if settings.futility > 0 and n < settings.max_repeats:
        for c in open_:
            if c in decisions:
                continue
            gamma = _share(settings.alpha, max(1, m_remaining - rejected), tests[c].pooled)
            final = nominal_levels(gamma, settings.min_repeats, settings.max_repeats, pooled=tests[c].pooled)[-1]
            power = predictive_power(tests[c].p, n, settings.max_repeats, final)
            if power < settings.futility:
                decisions[c] = Decision("no difference", n, round_,
                                        f"futile: predictive power {power:.2g} < {settings.futility:g}",
                                        tests[c].p, tests[c].delta)
    return rejected


@functools.lru_cache(maxsize=256)
def _share(alpha: float, m: int, pooled: bool) -> float:
    """Each of ``m`` hypotheses' share of ``alpha``: Bonferroni's alpha / m for paired tests (own
    denominators), Dunnett's per-comparison level for tests on the pooled noise, whose statistics
    against one baseline correlate 0.5 (one baseline mean in every contrast): 0.0068 instead of
    0.0045 for 11 comparisons. The race calibration measures the family-wise error it keeps."""
    if not pooled or m <= 1:
        return alpha / m
    from scipy import special

    from studies._design import INF_DF, dunnett_critical

    c = dunnett_critical([math.sqrt(0.5)] * m, INF_DF, alpha)
    return float(2 * special.ndtr(-c))


def predictive_power(p: float, n: int, n_max: int, final_level: float) -> float:
    """Probability of rejecting at the last look given the data so far, averaged over what the
    data say the effect may be (a flat prior: Spiegelhalter, Freedman & Blackburn 1986): with
    information fraction t = n / n_max and the look's z, P = Phi((|z| - z_final sqrt(t)) /
    sqrt(1 - t)). Unlike the conditional power at the current trend, which takes a noisy early
    estimate as the truth and stopped 66% of real 1-SD effects early (calibration), it keeps a
    config whose early trend is weak but not yet evidence of nothing. Non-binding: stopping
    only removes chances to reject, so the error control is kept."""
    from scipy import special  # here: scipy.special's import (~0.2 s) is kept off `study status`
    z = -special.ndtri(max(p, 1e-300) / 2)
    t = n / n_max
    z_final = -special.ndtri(final_level / 2)
    return float(special.ndtr((z - z_final * math.sqrt(t)) / math.sqrt(1 - t)))


def conditional_power(p: float, n: int, n_max: int, final_level: float) -> float:
    """Probability of rejecting at the last look given the data so far, if the current trend
    (the observed standardised effect) is the truth: the B-value formula of Lan & Wittes (1988),
    with the look's t-test turned into a z-score. Stopping for low conditional power is
    *non-binding* futility: it only removes chances to reject, so the error control is kept."""
    from scipy import special  # here: scipy.special's import (~0.2 s) is kept off `study status`
    z = -special.ndtri(max(p, 1e-300) / 2)  # the normal's isf (scipy.special: no scipy.stats in workers)
    t = n / n_max
    z_final = -special.ndtri(final_level / 2)
    return float(special.ndtr(-(z_final - z / math.sqrt(t)) / math.sqrt(1 - t)))  # the normal's sf


def block_variance(cells: Mapping[tuple[Hashable, int], tuple[str, float | None]], configs: Sequence[Hashable],
                   n0: int) -> tuple[float, int] | None:
    """The noise variance pooled over the first look's block -- every config at seeds ``0 .. n0-1``
    -- as the residual mean square of the two-way (config x seed) model of a randomized complete
    block design, with its ``(k - 1)(n - 1)`` degrees of freedom (Tukey 1949; Dunnett 1955; Hsu
    1984 use the same). Seeds that some config lacks (a failed trial) are left out. None when
    fewer than 2 configs or 2 seeds remain, or when the block has no residual spread.

    numpy by hand: statsmodels' OLS would give the same mean square, at the cost of a formula
    and a design matrix per race replay, and a replay runs at every worker's idle poll."""
    seeds = [r for r in range(n0) if all(cells[(c, r)][1] is not None for c in configs)]
    if len(configs) < 2 or len(seeds) < 2:
        return None
    x = np.array([[cells[(c, r)][1] for r in seeds] for c in configs], dtype=float)
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    df = (len(configs) - 1) * (len(seeds) - 1)
    mse = float((resid**2).sum()) / df
    return (mse, df) if mse > 0 and math.isfinite(mse) else None


def _look_selection(values, open_, n, round_, settings, m_remaining, k, decisions, block=None, resolution=0.0) -> int:
    """Holm step-down over 'i is a best config', each tested against every other open config
    (one-sided, Bonferroni over the k - 1 possible opponents).

    With a ``block`` variance (:func:`block_variance`) whose degrees of freedom exceed the pair's
    own ``n - 1``, a pair whose own paired standard error is at most the block's,
    ``se_block = sqrt(2 * mse / n)``, is tested with the block-design t-test: ``delta /
    se_block`` against Student t with the block's degrees of freedom. Any other pair gets the
    paired t-test. Under the normal two-way model with one noise SD for every config this is
    exact-conservative: the contrast of two config means is independent of the block's residuals
    (normal theory), the block is the first look's, which every config runs, so its choice does
    not depend on the data, and a paired rejection with ``se_pair > se_block`` implies a block
    rejection (the paired critical value is the larger, with fewer degrees of freedom), so every
    rejection is one of the block test. With unequal SDs the paired rejections stay exact, and a
    pair much noisier than the block rarely shows a spread below the block's (measured in
    benchmarks/calib_racing.py). A paired t-test on 3 seeds has 2 degrees of freedom; the block
    of 10 configs has 18, which is what lets a race eliminate clearly worse configs at the first
    looks. The level of each look is then its spending increment (Bonferroni over looks, valid
    for any test), since the Monte Carlo levels of :func:`nominal_levels` are those of the
    paired t-test."""
    from scipy import special  # here: scipy.special's import (~0.2 s) is kept off `study status`

    worst: dict[Hashable, tuple[float, Hashable, Comparison, str]] = {}
    pooled = block is not None and block[1] > n - 1
    for i in open_:
        best = (1.0, None, None, "")
        for j in open_:
            if j == i:
                continue
            cmp = _paired(values, i, j, resolution=resolution)
            one_sided, test = (cmp.p / 2 if cmp.delta < 0 else 1.0 - cmp.p / 2), "one-sided paired t"
            if pooled and cmp.n >= 2:
                pair = [values[i][r] - values[j][r] for r in values[i]
                        if values[i][r] is not None and values[j].get(r) is not None]
                se_block = math.sqrt(2 * block[0] / cmp.n)
                if float(np.std(pair, ddof=1)) / math.sqrt(cmp.n) <= se_block:
                    one_sided, test = float(special.stdtr(block[1], cmp.delta / se_block)), "block-design t"
            if one_sided < best[0]:
                best = (one_sided, j, cmp, test)
        worst[i] = best
    rejected = 0
    leader = max(open_, key=lambda c: np.mean([v for v in values[c].values() if v is not None] or [-np.inf]))
    for i in sorted(open_, key=lambda c: worst[c][0]):
        if i == leader:
            continue  # the leader is never below the others' means; its test cannot reject first
        gamma = settings.alpha / max(1, m_remaining - rejected) / max(1, k - 1)
        if block is not None:
            threshold = settings.level(n) * gamma / settings.alpha  # this look's spending increment of gamma
        else:
            threshold = nominal_levels(gamma, settings.min_repeats, settings.max_repeats, True)[
                n - settings.min_repeats
            ]
        p, j, cmp, test = worst[i]
        if p >= threshold or cmp is None:
            break
        decisions[i] = Decision("eliminated", n, round_,
                                f"below config {j} ({test} p={p:.2g} < {threshold:.2g}, Holm, look {round_ + 1})",
                                p, cmp.delta)
        rejected += 1
    return rejected


def _close(mode, open_, decisions, n, round_, baseline, settings) -> None:
    if mode == "ablation":
        for c in open_:
            decisions[c] = Decision("no difference", n, round_, f"still open at max_repeats={settings.max_repeats}")
        decisions[baseline] = Decision("baseline", n, round_, "reference: ran while any config was open")
        return
    if len(open_) == 1:
        decisions[open_[0]] = Decision("winner", n, round_, "every other config eliminated")
    else:
        for c in open_:
            decisions[c] = Decision("top set", n, round_, f"not eliminated by max_repeats={settings.max_repeats}")
