"""`kvsim-post compare A.h5 B.h5`: B/A per paired point, and a verdict for CI.

Points pair by their whole configuration (pairing.py); two files that are not the same
experiment on the same setup are refused unless allow_different. A change counts as a
regression only when it is past the threshold AND the repetitions show it: a one-sided
Mann-Whitney U test (stats.py) of B's repetition seconds against A's, p <= alpha, kept at a
false-discovery rate of alpha over every timed (point, metric) test of the comparison. Metrics that
are not timed (sizes, errors: the same every repetition) regress on the threshold alone.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import metrics as m
from . import pairing, stats
from .load import CONFIG_COLUMNS

DEFAULT_METRICS = ("fill_GBps", "retrieve_GBps", "tokens_per_s")
ALPHA = 0.05


class CompareError(Exception):
    """Input that cannot be compared: different experiments, no paired points, bad metric."""


def ratio(a, b):
    """b / a, with 0/0 = 1 (unchanged) and x/0 = inf."""
    if a == 0:
        return 1.0 if b == 0 else math.inf
    return b / a


def worse(direction, a, b, threshold):
    if direction == "lower":
        return b > a * (1 + threshold)
    if direction == "higher":
        return b < a * (1 - threshold)
    return False  # better = "none": a change is not a regression


@dataclass
class Comparison:
    table: pd.DataFrame  # one row per paired point: points, varying keys, `<metric> B/A`, `<metric> p`, regressed
    metrics: list
    regressions: list  # one line per (point, metric) past the threshold and significant
    not_significant: list = field(default_factory=list)  # past the threshold, not shown by the repetitions
    unpaired: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    basis: str = ""
    alpha: float = ALPHA
    directions: dict = field(default_factory=dict)  # metric -> higher | lower | none


def _numeric(df, metric):
    return metric in df.columns and pd.api.types.is_numeric_dtype(df[metric]) and not pd.api.types.is_bool_dtype(df[metric])


def pick_metrics(a, b, wanted):
    if wanted:
        for metric in wanted:
            if metric in CONFIG_COLUMNS or metric == "point":
                raise CompareError(f"'{metric}' says which points match, it is not a metric")
            if not (_numeric(a, metric) and _numeric(b, metric)):
                common = [c for c in a.columns if _numeric(a, c) and _numeric(b, c) and c not in CONFIG_COLUMNS + ["point"]]
                raise CompareError(f"unknown metric '{metric}' (numeric summary columns of both files: {', '.join(common)})")
        return list(dict.fromkeys(wanted))
    metrics = [x for x in DEFAULT_METRICS if _numeric(a, x) and _numeric(b, x)]
    if not metrics:
        raise CompareError(f"none of the default metrics ({', '.join(DEFAULT_METRICS)}) is in both files; name one with --metric")
    return metrics


def direction(metric, a, b):
    """The file's `better` attribute (A's, else B's), else the suffix rule of schema 1."""
    return m.better(metric, _attrs(a, b)["better"])


def _attrs(a, b):
    """The column attributes of A, else B's."""
    return {k: {**b.attrs.get(k, {}), **a.attrs.get(k, {})} for k in m.ATTRIBUTES}


def _series(df, row, metric):
    name = m.series_of(metric, df.attrs)
    if name is None:
        return None
    point = int(df["point"].iloc[row]) if "point" in df.columns else row
    values = df.attrs.get("points", {}).get(point, {}).get("series", {}).get(name)
    return None if values is None else np.asarray(values, dtype=float)


def judge(metric, xa, xb):
    """(significant?, p or None, why not) for a change past the threshold of a timed metric."""
    if xa is None or xb is None:
        return False, None, "no repetition series recorded"
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    if stats.smallest_p(len(xa), len(xb)) > ALPHA:
        return False, None, f"n={len(xa)}/{len(xb)}: too few repetitions to decide"
    p = stats.mann_whitney_greater(xa, xb)  # B slower: more seconds, for rates and times alike
    return p <= ALPHA, p, f"p={p:.3g}, n={len(xa)}/{len(xb)}"


def compare_frames(a, b, metrics=None, threshold=0.05, names=("A", "B"), allow_different=False):
    pairs, lone_a, lone_b, basis, columns = pairing.pair(a, b)
    if not columns and basis == pairing.BY_SUMMARY:
        raise CompareError(f"{names[0]} and {names[1]} share no configuration column ({', '.join(CONFIG_COLUMNS)}) "
                           f"and lack per-point configs")
    metrics = pick_metrics(a, b, metrics)
    reasons = pairing.differences(a, b, names, lone_a, lone_b)
    if reasons and not allow_different:
        raise CompareError(f"{names[0]} and {names[1]} are not the same experiment on the same setup: "
                           f"{'; '.join(reasons)}; --allow-different compares them anyway")
    if not pairs:
        raise CompareError(f"no matching points between {names[0]} and {names[1]} (paired by {basis})")

    ia = [i for i, _ in pairs]
    ib = [j for _, j in pairs]
    rows_a, rows_b = a.iloc[ia].reset_index(drop=True), b.iloc[ib].reset_index(drop=True)
    varying = [k for k in columns if rows_a[k].nunique(dropna=False) > 1]
    points_a = rows_a["point"] if "point" in rows_a.columns else pd.Series(ia)
    points_b = rows_b["point"] if "point" in rows_b.columns else pd.Series(ib)
    table = pd.DataFrame({"A point": points_a, "B point": points_b})
    for k in varying:
        table[k] = rows_a[k]
    regressions, quiet, flags = [], [], [[] for _ in pairs]
    directions = {}
    attrs = _attrs(a, b)
    timed = {metric for metric in metrics if m.series_of(metric, attrs) is not None}
    # One family: every timed (point, metric) pair's p, whether or not it moved past the
    # threshold, so the false-discovery control sees every test the comparison makes.
    family = [judge(metric, _series(a, i, metric), _series(b, j, metric))[1]
              for metric in metrics if metric in timed for i, j in pairs]
    cut = stats.benjamini_hochberg([math.nan if p is None else p for p in family], ALPHA)
    for metric in metrics:
        better = directions[metric] = direction(metric, a, b)
        ratios, ps = [], []
        for n, (i, j) in enumerate(pairs):
            va, vb = rows_a[metric].iloc[n], rows_b[metric].iloc[n]
            ratios.append(math.nan if pd.isna(va) or pd.isna(vb) else ratio(va, vb))
            ps.append(math.nan)
            if pd.isna(va) or pd.isna(vb) or not worse(better, va, vb, threshold):
                continue  # one side lacks the number (n/a), or no change past the threshold
            where = ", ".join(f"{k}={rows_a[k].iloc[n]}" for k in varying) or "the only configuration"
            what = f"A point {points_a.iloc[n]} / B point {points_b.iloc[n]} ({where}): {metric} {va:.6g} -> {vb:.6g} (B/A {ratios[-1]:.3f}"
            if metric not in timed:
                flags[n].append(metric)
                regressions.append(f"{what}; not timed: no repetition noise)")
                continue
            significant, p, why = judge(metric, _series(a, i, metric), _series(b, j, metric))
            ps[-1] = math.nan if p is None else p
            if significant and p > cut:
                significant, why = False, f"{why}; above the false-discovery cut {cut:.3g} of {len(family)} tests"
            if significant:
                flags[n].append(metric)
                regressions.append(f"{what}, {why})")
            else:
                quiet.append(f"{what}; not significant: {why})")
        table[f"{metric} B/A"] = ratios
        if metric in timed:
            table[f"{metric} p"] = ps
    table["regressed"] = [", ".join(f) for f in flags]
    table.attrs["units"] = {k: a.attrs.get("units", {}).get(k, "") for k in varying}

    unpaired = [f"{name} point {_point(df, r)} has no partner in {other}"
                for name, df, rows, other in ((names[0], a, lone_a, names[1]), (names[1], b, lone_b, names[0]))
                for r in rows]
    notes = [f"DIFFERENT: {r}" for r in reasons]
    hashes = [df.attrs.get("meta", {}).get("config_hash") for df in (a, b)]
    if not reasons and None not in hashes and hashes[0] != hashes[1]:
        notes.append(f"config_hash differs ({hashes[0]} vs {hashes[1]}) although every point's configuration "
                     f"is the same: it also covers the output path and the run settings")
    for df, name in ((a, names[0]), (b, names[1])):
        if df.attrs.get("meta", {}).get("complete", 1) != 1:
            notes.append(f"{name} is incomplete: only its finished points were compared")
    return Comparison(table, metrics, regressions, quiet, unpaired, notes, basis, ALPHA, directions)


def _point(df, row):
    return int(df["point"].iloc[row]) if "point" in df.columns else row


def describe(comparison, threshold):
    """The lines after the table: what was compared and what regressed."""
    directions = ", ".join(f"{x} ({comparison.directions[x]} is better)" if comparison.directions[x] != "none"
                           else f"{x} (neither direction is better)" for x in comparison.metrics)
    lines = [f"{len(comparison.table)} paired point(s) (by {comparison.basis}); {directions}; "
             f"threshold {threshold:.1%}, and for timed metrics p <= {comparison.alpha} "
             f"(one-sided Mann-Whitney U on the repetition seconds) at a false-discovery rate of "
             f"{comparison.alpha} over all the pairs' tests (Benjamini-Hochberg): "
             f"{len(comparison.regressions)} regression(s)"]
    lines += [f"REGRESSION: {r}" for r in comparison.regressions]
    lines += [f"not a regression: {r}" for r in comparison.not_significant]
    lines += [f"unpaired: {u}" for u in comparison.unpaired]
    lines += [f"note: {n}" for n in comparison.notes]
    return lines
