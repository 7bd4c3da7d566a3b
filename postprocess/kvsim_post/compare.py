"""`kvsim-post compare A.h5 B.h5`: B/A ratios per matching point, and a verdict for CI.

Points match when every configuration column the two files share is equal. A sweep that
runs the same configuration twice has duplicate keys; those pair up in sweep order.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .load import CONFIG_COLUMNS

DEFAULT_METRICS = ("fill_GBps", "retrieve_GBps", "tokens_per_s")
# Times, sizes and errors regress upwards; every other metric (rates, fractions) downwards.
LOWER_IS_BETTER_SUFFIXES = ("_ms", "_seconds", "_bytes", "_rel_err", "_rel_l2", "_max_abs")


class CompareError(Exception):
    """Input that cannot be compared: no shared configuration, no matching points, bad metric."""


def lower_is_better(metric):
    return metric.endswith(LOWER_IS_BETTER_SUFFIXES)


def ratio(a, b):
    """b / a, with 0/0 = 1 (unchanged) and x/0 = inf."""
    if a == 0:
        return 1.0 if b == 0 else math.inf
    return b / a


def regressed(metric, a, b, threshold):
    if lower_is_better(metric):
        return b > a * (1 + threshold)
    return b < a * (1 - threshold)


@dataclass
class Comparison:
    table: pd.DataFrame  # one row per matching point: points, varying keys, `<metric> B/A`, regressed
    metrics: list
    regressions: list  # one line per (point, metric) past the threshold
    notes: list = field(default_factory=list)


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
    metrics = [m for m in DEFAULT_METRICS if _numeric(a, m) and _numeric(b, m)]
    if not metrics:
        raise CompareError(f"none of the default metrics ({', '.join(DEFAULT_METRICS)}) is in both files; name one with --metric")
    return metrics


def compare_frames(a, b, metrics=None, threshold=0.05, names=("A", "B")):
    keys = [c for c in CONFIG_COLUMNS if c in a.columns and c in b.columns]
    if not keys:
        raise CompareError(f"{names[0]} and {names[1]} share no configuration column ({', '.join(CONFIG_COLUMNS)})")
    metrics = pick_metrics(a, b, metrics)

    def side(df):
        out = df[keys + metrics].copy()
        out["point"] = df["point"].to_numpy() if "point" in df.columns else np.arange(len(df))
        out["_nth"] = out.groupby(keys, dropna=False).cumcount()
        return out

    merged = side(a).merge(side(b), on=keys + ["_nth"], suffixes=("_a", "_b"), sort=False)
    if merged.empty:
        raise CompareError(f"no matching points between {names[0]} and {names[1]} (compared on {', '.join(keys)})")

    varying = [k for k in keys if merged[k].nunique(dropna=False) > 1]
    table = pd.DataFrame({"A point": merged["point_a"], "B point": merged["point_b"]})
    for k in varying:
        table[k] = merged[k]
    regressions, flags = [], [[] for _ in range(len(merged))]
    for metric in metrics:
        ratios = []
        for i, (va, vb) in enumerate(zip(merged[f"{metric}_a"], merged[f"{metric}_b"])):
            if pd.isna(va) or pd.isna(vb):
                ratios.append(math.nan)  # one side lacks the number: nothing to judge
                continue
            ratios.append(ratio(va, vb))
            if regressed(metric, va, vb, threshold):
                flags[i].append(metric)
                where = ", ".join(f"{k}={merged[k].iloc[i]}" for k in varying) or "the only configuration"
                regressions.append(f"A point {merged['point_a'].iloc[i]} / B point {merged['point_b'].iloc[i]} ({where}): "
                                   f"{metric} {va:.6g} -> {vb:.6g} (B/A {ratios[-1]:.3f})")
        table[f"{metric} B/A"] = ratios
    table["regressed"] = [", ".join(f) for f in flags]
    table.attrs["units"] = {k: a.attrs.get("units", {}).get(k, "") for k in varying}

    notes = []
    for name, df, other in ((names[0], a, names[1]), (names[1], b, names[0])):
        unmatched = len(df) - len(merged)
        if unmatched:
            notes.append(f"{unmatched} point(s) of {name} have no match in {other}")
    devices = [df.attrs.get("meta", {}).get("device") for df in (a, b)]
    if devices[0] != devices[1]:
        notes.append(f"different devices: {names[0]} ran on {devices[0]}, {names[1]} on {devices[1]}")
    for df, name in ((a, names[0]), (b, names[1])):
        if df.attrs.get("meta", {}).get("complete", 1) != 1:
            notes.append(f"{name} is incomplete: only its finished points were compared")
    return Comparison(table, metrics, regressions, notes)


def describe(comparison, threshold):
    """The lines after the table: what was compared and what regressed."""
    directions = ", ".join(f"{m} ({'lower' if lower_is_better(m) else 'higher'} is better)" for m in comparison.metrics)
    lines = [f"{len(comparison.table)} matching point(s); {directions}; threshold {threshold:.1%}: "
             f"{len(comparison.regressions)} regression(s)"]
    lines += [f"REGRESSION: {r}" for r in comparison.regressions]
    lines += [f"note: {n}" for n in comparison.notes]
    return lines
