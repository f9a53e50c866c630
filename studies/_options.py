"""Every numeric option range-checked in one place, before anything is written.

A rule says what values an option takes; :func:`check_options` checks the options it is given
(by their Python names, which are also the CLI's ``dest`` names) against the rules and refuses the
first bad one with one line that names the value and the valid range. Names without a rule are
ignored, so the CLI passes its whole namespace and an API entry point passes its arguments.

Adding an option is one line::

    rule("trials_per_gpu", int, 1, 64)

NaN and the infinities are refused for every float rule (``--margin inf`` would make every config
"equivalent"). Integers must be integers (``True`` is not one). Some limits depend on other values;
those are the cross checks at the end (a seed range that must hold every repeat's seed, a number of
workers the machine can run).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass

from searchspace.errors import ConfigError, OptionError

SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit integers
WORKERS_PER_CPU = 4  # more local workers than this per core only thrash (and each is a process)


Bound = float | Callable[[], float] | None


@dataclass(frozen=True)
class Rule:
    """The valid values of one option: ``kind`` (int or float) within [low, high]."""

    name: str  # the Python name (and the CLI's dest)
    kind: type  # int | float
    low: Bound = None  # None: unbounded; a callable: computed when checked (e.g. from the CPU count)
    high: Bound = None
    low_open: bool = False  # low itself is not valid (e.g. alpha > 0)
    high_open: bool = False
    words: tuple[str, ...] = ()  # words valid besides numbers (e.g. --repeats auto)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def bounds(self) -> tuple[float | None, float | None]:
        return tuple(b() if callable(b) else b for b in (self.low, self.high))  # type: ignore[return-value]

    def valid(self) -> str:
        """'an integer from 0 to 4294967295', 'a finite number > 0 and < 1', ..."""
        low, high = self.bounds()
        noun = "an integer" if self.kind is int else "a finite number"
        noun = " or ".join([*map(repr, self.words), noun]) if self.words else noun
        if low is not None and high is not None and not self.low_open and not self.high_open:
            return f"{noun} from {_show(low)} to {_show(high)}"
        parts = []
        if low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {_show(low)}")
        if high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {_show(high)}")
        return f"{noun} {' and '.join(parts)}" if parts else noun

    def parse(self, value: object) -> object:
        """A number given as text (an option the parser keeps as text because it also takes a
        word, e.g. ``--trials-per-gpu 2|auto``) as the number; anything else unchanged."""
        if isinstance(value, str) and value not in self.words:
            text = value.strip()
            try:
                return int(text) if self.kind is int and text.lstrip("+-").isdigit() else float(text)
            except ValueError:
                return value
        return value

    def check(self, value: object) -> None:
        value = self.parse(value)
        if value is None or (isinstance(value, str) and value in self.words):
            return  # not given (the default applies, which is valid), or a word the option takes
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise OptionError(f"{self.flag} {value!r} is not a number; valid: {self.valid()}")
        if self.kind is int and not isinstance(value, numbers.Integral):
            if not (isinstance(value, float) and value.is_integer()):
                raise OptionError(f"{self.flag} {_show(value)} is not valid; valid: {self.valid()}")
        if not math.isfinite(value):
            raise OptionError(f"{self.flag} {_show(value)} is not valid; valid: {self.valid()}")
        low, high = self.bounds()
        below = low is not None and (value <= low if self.low_open else value < low)
        above = high is not None and (value >= high if self.high_open else value > high)
        if below or above:
            raise OptionError(f"{self.flag} {_show(value)} is out of range; valid: {self.valid()}")


def _show(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


RULES: dict[str, Rule] = {}


def rule(name: str, kind: type, low: Bound = None, high: Bound = None, *, low_open: bool = False,
         high_open: bool = False, words: tuple[str, ...] = ()) -> Rule:
    """Register the valid range of option ``name`` (one line per option; a duplicate is a bug)."""
    if name in RULES:
        raise ValueError(f"option {name!r} already has a rule")
    RULES[name] = Rule(name, kind, low, high, low_open, high_open, words)
    return RULES[name]


def max_workers() -> int:
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


# -- the rules ------------------------------------------------------------------------------------
# study launch / worker: the protocol
rule("seed", int, 0, SEED_MAX)
rule("repeats", int, 1, SEED_MAX + 1, words=("auto",))  # --max-cells refuses large studies first
rule("epochs", int, 1, 100_000)
rule("n_trials", int, 1, SEED_MAX + 1)
rule("max_cells", int, 1, 2**63 - 1)
MAX_CELLS = 100_000  # a launch queueing more cells is refused unless --max-cells raises the limit
rule("workers", int, 1)  # the upper limit depends on --gpus: _workers_fit
rule("worker_index", int, 0, 1_000_000)
# GPUs (issue 22): trials sharing one GPU; which GPUs exist and what precision a device runs are
# checked by studies.engine._gpu_options.check_gpu_options, which needs torch
rule("trials_per_gpu", int, 1, 64, words=("auto",))
# races and verdicts
rule("min_repeats", int, 2, SEED_MAX + 1)
rule("max_repeats", int, 2, SEED_MAX + 1)
rule("alpha", float, 0, 1, low_open=True, high_open=True)
rule("margin", float, 0, low_open=True)
rule("futility", float, 0, 1, high_open=True)
# storage: heartbeats and outages (seconds)
rule("heartbeat_interval", int, 1, 3600)
rule("grace_period", int, 2, 86_400)
rule("outage_limit", int, 1, 7 * 86_400)
# reports, comparisons, the dashboard
rule("bootstrap", int, 0, 1_000_000)
rule("top_k", int, 1, 100_000)
rule("port", int, 1, 65_535)
rule("limit", int, 1, 2**63 - 1)
# model describe: sizes of a model built for a look (a huge one would allocate gigabytes)
rule("input_size", int, 1, 8192)
rule("in_channels", int, 1, 4096)
rule("num_classes", int, 1, 1_000_000)


# -- cross checks: limits that depend on other values ---------------------------------------------


def _seeds_fit(values: dict) -> str | None:
    seed = values.get("seed")
    counts = [values.get(k) for k in ("repeats", "max_repeats")]
    repeats = max((n for n in counts if isinstance(n, numbers.Integral) and not isinstance(n, bool)), default=0)
    if isinstance(seed, numbers.Integral) and repeats >= 1:
        if seed + repeats - 1 > SEED_MAX:
            return (f"--seed {seed} with {repeats} repeats needs seeds up to {seed + repeats - 1}, above {SEED_MAX} "
                    f"(2**32 - 1); valid: seed + repeats - 1 <= {SEED_MAX}")
    return None


def _workers_fit(values: dict) -> str | None:
    """At most 4 local workers per CPU core; with --gpus, at most GPUs x trials per GPU."""
    gpus, workers = values.get("gpus"), values.get("workers")
    if not isinstance(workers, numbers.Integral):
        return None
    if gpus:
        per_gpu = values.get("trials_per_gpu")
        if not isinstance(per_gpu, numbers.Integral) or isinstance(per_gpu, bool):
            return None  # auto: measured on the GPU, which caps the processes itself (studies.engine._gpu_share)
        most, where = len(gpus) * per_gpu, f"with {len(gpus)} GPU(s) x {per_gpu} trial(s) per GPU"
    else:
        most, where = max_workers(), f"on {os.cpu_count() or 1} CPU core(s), {WORKERS_PER_CPU} per core"
    if workers > most:
        return f"--workers {workers} is out of range {where}; valid: an integer from 1 to {most}"
    return None


CROSS_CHECKS: list[Callable[[dict], str | None]] = [_seeds_fit, _workers_fit]


def check_options(**values: object) -> None:
    """Refuse the first value out of its rule's range (OptionError, one line); names without a
    rule are ignored. Then the cross checks (:data:`CROSS_CHECKS`) over all of ``values``."""
    for name, value in values.items():
        found = RULES.get(name)
        if found is not None:
            found.check(value)
    values = {name: RULES[name].parse(v) if name in RULES else v for name, v in values.items()}
    for cross in CROSS_CHECKS:
        message = cross(values)
        if message:
            raise OptionError(message)
