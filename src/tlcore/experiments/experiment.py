"""The experiment contract: options declared once, one function per seed, one result shape.

An experiment is an ``Experiment(name, section, summary, run_seed, options)``, with its
default seeds, the lecture's claims, and the option values of ``--quick``.
``run_seed(seed, options, progress)`` trains on the shipped data and returns a list of
``(method, metric, value)``; ``run`` calls it once per seed and gathers

    {"experiment": name, "section": str, "options": {...}, "seeds": [...],
     "notes": [str, ...], "seconds": float,
     "rows": [{"method": str, "metric": str, "mean": float, "std": float,
               "values": [one float per seed]}, ...],
     "claims": [{"claim": str, "holds": bool, "method": str, "metric": str,
                 "baseline": str or None, "at_least": float, "source": str}, ...]}

(std is the sample standard deviation, 0.0 for one seed; each claim is what the lecture
says the result shows, checked on the means; a claim on a metric that the options did
not measure is left out). The ``tlcore run`` command
builds its flags from ``options``.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np


class MissingExtra(ImportError):
    """An optional dependency an option needs is not installed; the message says which
    pip command installs it (``tlcore run`` prints it instead of a traceback)."""


@dataclass(frozen=True)
class Option:
    """One setting of an experiment: ``--name`` on the command line. ``minimum``: the
    smallest sensible value of a number; ``validate``: a function that raises ValueError
    with a message for a value the type, choices and minimum let through."""
    name: str
    type: type
    default: object
    help: str
    choices: tuple = None
    minimum: float = None
    validate: object = None

    @property
    def flag(self):
        """The command-line flag: batch_size -> --batch-size."""
        return "--" + self.name.replace("_", "-")

    def check(self, value):
        """``value`` converted to this option's type, or a ValueError naming the option."""
        flag = self.flag
        try:
            value = self.type(value)
        except (TypeError, ValueError):
            raise ValueError(f"option {self.name!r} ({flag}) must be a {self.type.__name__}, "
                             f"got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"option {self.name!r} ({flag}) must be one of {self.choices}, "
                             f"got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"option {self.name!r} ({flag}) must be a finite number, "
                             f"got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"option {self.name!r} ({flag}) must be >= {self.minimum}, "
                             f"got {value!r}")
        if self.validate is not None:
            self.validate(value)
        return value


def positive(name):
    """A ``validate`` for a number that must be > 0."""
    def check(value):
        if not value > 0:
            raise ValueError(f"option {name!r} (--{name.replace('_', '-')}) must be > 0, "
                             f"got {value!r}")
    return check


# Who makes a claim, besides a paper named by its citation ("Yosinski et al. 2014"):
CLAIM_SOURCES = {
    "lecture": "the lecture states it",
    "engine check": "a working engine and experiment must reach it (no transfer claimed)",
    "tlcore": "a control or a comparison this project adds; no source states it",
}


@dataclass(frozen=True)
class Claim:
    """What a result should show: the mean of ``metric`` for ``method`` is at least
    ``at_least``, or, with a ``baseline`` method, beats the baseline's mean by at least
    ``at_least``. ``source``: who claims it, one of CLAIM_SOURCES or a paper's citation
    ("Raina et al. 2007")."""
    method: str
    metric: str
    at_least: float
    baseline: str = None
    source: str = None

    def __post_init__(self):
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"Claim({self.method!r}, {self.metric!r}) needs a source: one of "
                             f"{sorted(CLAIM_SOURCES)} or a paper's citation, got "
                             f"{self.source!r}")

    def check(self, rows):
        """(holds, one line that says what was claimed and what was measured)."""
        means = {(row["method"], row["metric"]): row["mean"] for row in rows}
        value = means[(self.method, self.metric)]
        if self.baseline is None:
            holds = value >= self.at_least
            return holds, (f"{self.method} {self.metric} >= {self.at_least:g}: "
                           f"{value:.4f} ({'holds' if holds else 'does not hold'})")
        base = means[(self.baseline, self.metric)]
        holds = value - base >= self.at_least
        return holds, (f"{self.method} {self.metric} - {self.baseline} >= {self.at_least:g}: "
                       f"{value - base:+.4f} ({'holds' if holds else 'does not hold'})")


@dataclass(frozen=True)
class Experiment:
    name: str
    section: str  # the lecture section it demonstrates
    summary: str
    run_seed: object  # (seed, options dict, progress) -> [(method, metric, value), ...]
    options: tuple = ()
    default_seeds: tuple = (0, 1, 2)
    claims: tuple = field(default=())  # Claims: what the result should show
    # --quick: option values for a first look (one seed, shorter training); the claims
    # are written for the defaults and need not hold at these
    quick: dict = field(default_factory=dict, hash=False)
    check: object = None  # (options dict) -> None: raises ValueError on options that
    #                       do not go together (each option alone is checked by Option)
    notes: object = None  # (options dict) -> [str]: what to read before the table
    # (result dict, directory) -> [paths]: figures drawn from every seed's numbers, after
    # the run, when the "plot" option names a directory (figures of one seed's models
    # are drawn inside run_seed)
    figures: object = None

    def command_line(self, options, seeds=None):
        """The ``tlcore run`` command that gives ``options`` (resolved) over ``seeds``:
        the seeds unless they are the defaults, the options not at their defaults, and
        ``--plot DIR`` (for a figure's title: which run drew it)."""
        words = [f"tlcore run {self.name}"]
        if seeds is not None and tuple(seeds) != tuple(self.default_seeds):
            words.append("--seeds " + ",".join(str(s) for s in seeds))
        for option in self.options:
            value = options[option.name]
            if option.name != "plot" and value != option.default:
                words.append(f"{option.flag} {value:g}" if option.type is float
                             else f"{option.flag} {value}")
        return " ".join(words + ["--plot DIR"])

    def resolve(self, given):
        """Every option's value: the given ones checked, the others at their defaults."""
        known = {option.name: option for option in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"experiment {self.name!r} has no option {unknown[0]!r}; its "
                             f"options: {sorted(known) or 'none'}")
        resolved = {name: option.check(given[name]) if name in given else option.default
                    for name, option in known.items()}
        if self.check is not None:
            self.check(resolved)
        return resolved

    def run(self, seeds=None, progress=None, quick=False, **options):
        """Train over ``seeds`` (None: the default seeds) with ``options`` (the rest at
        their defaults). ``quick``: a first look, the options not given at their
        ``quick`` values and, without seeds, the first default seed only."""
        if quick:
            options = {**self.quick, **options}
            seeds = self.default_seeds[:1] if seeds is None else seeds
        seeds = tuple(self.default_seeds if seeds is None else seeds)
        if not seeds or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of non-negative ints, got {seeds!r}")
        resolved = self.resolve(options)
        start = time.perf_counter()
        values = {}  # (method, metric) -> [one value per seed], in first-seen order
        for index, seed in enumerate(seeds):
            if progress is not None:
                progress.stage(f"{self.name} seed {seed} ({index + 1}/{len(seeds)})")
            for method, metric, value in self.run_seed(int(seed), resolved, progress):
                values.setdefault((method, metric), []).append(float(value))
        rows = [{"method": method, "metric": metric, "mean": float(np.mean(v)),
                 "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v}
                for (method, metric), v in values.items()]
        claims = []
        measured = {(row["method"], row["metric"]) for row in rows}
        for claim in self.claims:
            if (claim.method, claim.metric) not in measured:
                continue  # options that skip the claim's metric, e.g. other --shots
            holds, text = claim.check(rows)
            claims.append({"claim": text, "holds": holds, "method": claim.method,
                           "metric": claim.metric, "baseline": claim.baseline,
                           "at_least": claim.at_least, "source": claim.source})
        result = {"experiment": self.name, "section": self.section, "options": resolved,
                  "seeds": list(seeds),
                  "notes": [] if self.notes is None else self.notes(resolved),
                  "seconds": time.perf_counter() - start, "rows": rows, "claims": claims}
        if self.figures is not None and resolved.get("plot"):
            for path in self.figures(result, resolved["plot"]):
                print(f"wrote {path}")
        return result
