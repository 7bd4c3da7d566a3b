"""How far the repetitions behind each timed metric spread, and the warnings it calls for.

The summary holds the median repetition; schema 2 adds `M_min`/`M_max` (the metric over the
fastest and slowest repetitions, the smaller value in `_min`) and a `*_spread` (max/min seconds)
per phase. Schema-1 files get both computed from their per-repetition series, the same way:
a rate scales with 1/seconds, a time with seconds.
"""

import numpy as np
import pandas as pd

from . import metrics as m
from .table import format_number

SPREAD_TEXT = "{median} ({low}–{high})"


def _point_numbers(df):
    return df["point"].tolist() if "point" in df.columns else list(range(len(df)))


def _series(df, point, name):
    values = df.attrs.get("points", {}).get(int(point), {}).get("series", {}).get(name)
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return values if values.size else None


def with_spread(df):
    """df with `M_min`/`M_max` for every timed metric M whose spread is known (the file's
    columns, else computed from /points/<n> series); attrs kept."""
    out = df.copy()
    out.attrs = dict(df.attrs, units=dict(df.attrs.get("units", {})))
    for metric, name in m.timed_metrics(df.attrs).items():
        if metric not in df.columns or (f"{metric}_min" in df.columns and f"{metric}_max" in df.columns):
            continue
        lows, highs = [], []
        for point, value in zip(_point_numbers(df), df[metric]):
            s = _series(df, point, name)
            if s is None or not np.isfinite(value):
                lows.append(np.nan)
                highs.append(np.nan)
                continue
            median = np.median(s)
            scale = np.array([s.min(), s.max()]) / median if m.is_time(metric, df.attrs) else median / np.array([s.max(), s.min()])
            lows.append(value * scale[0])
            highs.append(value * scale[1])
        if not np.all(np.isnan(lows)):
            out[f"{metric}_min"], out[f"{metric}_max"] = lows, highs
            out.attrs["units"][f"{metric}_min"] = out.attrs["units"][f"{metric}_max"] = df.attrs.get("units", {}).get(metric, "")
    return out


def phase_spreads(df):
    """{phase spread column: list of max/min per row} from the file's `*_spread` columns or the series."""
    out = {}
    for name, column in m.spread_columns(df.attrs).items():
        if column in df.columns:
            out[column] = [float(v) if pd.notna(v) else np.nan for v in df[column]]
            continue
        values = []
        for point in _point_numbers(df):
            s = _series(df, point, name)
            values.append(s.max() / s.min() if s is not None else np.nan)
        if not np.all(np.isnan(values)):
            out[column] = values
    return out


def warnings(df, label):
    """One line per point and problem: a phase whose repetitions spread past SPREAD_WARNING, and
    fractions of a ceiling above 1 (stored as NaN, listed in `ceiling_exceeded`)."""
    lines = []
    spreads = phase_spreads(df)
    exceeded = df[m.CEILING_EXCEEDED].tolist() if m.CEILING_EXCEEDED in df.columns else [""] * len(df)
    for row, point in enumerate(_point_numbers(df)):
        for column, values in spreads.items():
            if values[row] > m.SPREAD_WARNING:
                phase = column.removesuffix("_spread")
                lines.append(f"{label}: point {point}: {phase} repetitions spread {values[row]:.3g}x (slowest/fastest "
                             f"> {m.SPREAD_WARNING}): the median hides it; see the min–max")
        text = exceeded[row]
        if isinstance(text, str) and text.strip():
            lines.append(f"{label}: point {point}: ceiling exceeded ({text.strip()}): a fraction above 1 means the "
                         f"ceiling was measured too low; shown as n/a")
    return lines


def shown(df, keep=()):
    """df for reading: each timed metric as `median (min–max)` text where its spread is known,
    the `_min`/`_max` columns folded into it (unless named in keep), NaN fractions as "n/a".
    attrs["numeric_text"] names the text columns that hold numbers (right-aligned)."""
    out = df.copy()
    out.attrs = dict(df.attrs)
    numeric_text = []
    for metric in m.timed_metrics(df.attrs):
        low, high = f"{metric}_min", f"{metric}_max"
        if metric not in out.columns or low not in df.columns or high not in df.columns:
            continue
        out[metric] = [_with_range(v, lo, hi) for v, lo, hi in zip(df[metric], df[low], df[high])]
        numeric_text.append(metric)
        out = out.drop(columns=[c for c in (low, high) if c not in keep and c in out.columns])
    for column in out.columns:
        if m.is_fraction(column, df.attrs) and column not in numeric_text and pd.api.types.is_float_dtype(out[column]):
            out[column] = [format_number(v) if pd.notna(v) else "n/a" for v in out[column]]
            numeric_text.append(column)
    out.attrs["numeric_text"] = numeric_text
    return out


def _with_range(value, low, high):
    if pd.isna(value):
        return "n/a"
    if pd.isna(low) or pd.isna(high):
        return format_number(value)
    return SPREAD_TEXT.format(median=format_number(value), low=format_number(low), high=format_number(high))
