"""The whole lecture in one run: every experiment in turn, then one summary table.

``run_all`` runs the experiments of REGISTRY in the lecture's order and gathers

    {"command": "run all", "seeds": [...] or None (each experiment's defaults),
     "quick": bool, "seconds": float, "experiments": [one result dict per experiment],
     "summary": [one row per claim: cell, section, experiment, method, metric, result
                 [mean, std], baseline [method, mean, std] or None, seeds, at_least,
                 claim, holds, source (who claims it: the lecture, a paper, an engine
                 check or tlcore; see experiment.CLAIM_SOURCES)]}

``tlcore run all`` prints each experiment's table as it finishes, then ``format_summary``:
the claims grouped by the lecture's map (``lecture_map``), the engine's check first, then
one group per cell (is the source labelled, is the target labelled).
"""

import time

from tlcore.experiments.experiment import CLAIM_SOURCES
from tlcore.experiments.lecture_map import MAP, OUTSIDE_THE_MAP, group_of


def run_all(registry, seeds=None, quick=False, plot="", progress=None, on_result=None):
    """Run every experiment of ``registry`` (name -> Experiment) and summarise the claims.

    seeds: None for each experiment's default seeds (``quick``: its first one only).
    quick: each experiment's ``quick`` option values, for a first look.
    plot: a directory for the figures of the experiments that draw one ('' for none).
    on_result: called with each experiment's result as soon as it is done."""
    if plot:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before an hour of training, not after
    start = time.perf_counter()
    results = []
    for index, experiment in enumerate(registry.values()):
        options = {}
        if plot and any(option.name == "plot" for option in experiment.options):
            options["plot"] = plot
        if progress is not None:
            progress.prefix = f"[{index + 1}/{len(registry)}] "
            progress.stage(f"{experiment.name}: {experiment.section}")
        result = experiment.run(seeds=seeds, progress=progress, quick=quick, **options)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return {"command": "run all", "seeds": None if seeds is None else list(seeds),
            "quick": quick, "seconds": time.perf_counter() - start,
            "experiments": results, "summary": summary_rows(results)}


def summary_rows(results):
    """One row per claim of every result: what was claimed and what was measured."""
    rows = []
    for result in results:
        rows_by_key = {(row["method"], row["metric"]): row for row in result["rows"]}
        for claim in result["claims"]:
            measured = rows_by_key[(claim["method"], claim["metric"])]
            baseline = rows_by_key.get((claim["baseline"], claim["metric"]))
            rows.append({
                "cell": group_of(result["experiment"]), "section": result["section"],
                "experiment": result["experiment"],
                "method": claim["method"], "metric": claim["metric"],
                "result": [measured["mean"], measured["std"]],
                "baseline": None if baseline is None else
                [claim["baseline"], baseline["mean"], baseline["std"]],
                "seeds": len(measured["values"]), "at_least": claim["at_least"],
                "claim": claim["claim"], "holds": claim["holds"],
                "source": claim["source"]})
    return rows


def format_summary(summary, seconds, quick=False):
    """The summary rows as a table grouped by the lecture's map, then how many claims
    held, by source, and the time taken. "needs" is the claim: a margin over the
    baseline's mean (+0.1), or a value (>= 0.97); "source" who makes it."""
    def mean_std(mean, std, seeds):
        return f"{mean:.3f} +- {std:.3f}" if seeds > 1 else f"{mean:.3f}"

    header = (f"{'experiment':<24}{'method, metric':<38}{'baseline':<32}"
              f"{'result':<17}{'needs':<10}{'source':<22}held")
    lines = [header, "-" * len(header)]
    groups = (OUTSIDE_THE_MAP,) + tuple(cell.title for cell in MAP)
    for group in groups:
        rows = [row for row in summary if row["cell"] == group]
        if rows:
            lines.append(f"[{group}]")
        for row in rows:
            seeds = row["seeds"]
            if row["baseline"] is None:
                baseline, needs = "-", f">= {row['at_least']:.3g}"
            else:
                name, mean, std = row["baseline"]
                baseline, needs = f"{name} {mean_std(mean, std, seeds)}", f"{row['at_least']:+.2f}"
            lines.append(f"{row['experiment']:<24}"
                         f"{row['method'] + ', ' + row['metric']:<38}{baseline:<32}"
                         f"{mean_std(*row['result'], seeds):<17}{needs:<10}"
                         f"{row['source']:<22}" + ("yes" if row["holds"] else "NO"))
    held = sum(row["holds"] for row in summary)
    lines.append(f"{held} of {len(summary)} claims held ({by_source(summary)}); "
                 f"{seconds:.0f} s in all")
    if quick:
        lines.append("(--quick: one seed and shorter training; the claims are written for "
                     "the default run)")
    for row in summary:
        if not row["holds"]:
            lines.append(f"did not hold: {row['experiment']}: {row['claim']}")
    return "\n".join(lines)


def by_source(summary):
    """'the lecture's 9 of 9, papers' 5 of 5, ...': how many claims held, per source."""
    def kind(source):
        return source if source in CLAIM_SOURCES else "papers"
    counts = {}
    for row in summary:
        held, total = counts.get(kind(row["source"]), (0, 0))
        counts[kind(row["source"])] = (held + row["holds"], total + 1)
    names = {"lecture": "the lecture's", "papers": "the papers'",
             "engine check": "engine checks", "tlcore": "tlcore's"}
    order = ("lecture", "papers", "engine check", "tlcore")
    return ", ".join(f"{names[k]} {counts[k][0]} of {counts[k][1]}" for k in order
                     if k in counts)
