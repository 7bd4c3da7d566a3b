"""What the summary columns measure: kind, which direction is better, and the repetition series
behind each, read from the columns' attributes (docs/hdf5-schema.md; declared once, in kvsim's
framework/src/metrics/metrics.def).

Schema 3 writes `kind`, `better`, `units` and `series` on every column. The tables below are the
rules for files written before (schema 1 and 2), used only for a column without those
attributes; they are no list to extend: a new metric brings its attributes.
"""

import math

# Before schema 3: timed metric -> the /points/<n> series of repetition seconds it is computed
# from. A rate is (constant work) / seconds, a time is seconds scaled: either way a slower
# repetition has more seconds, which is what compare's significance test looks at. Schema 2
# writes `M_min`/`M_max` for each of SPREAD_METRICS.
SPREAD_METRICS = {
    "fill_positions_per_s": "fill_seconds", "fill_GBps": "fill_seconds",
    "retrieve_ops_per_s": "retrieve_seconds", "retrieve_GBps": "retrieve_seconds",
    "tokens_per_s": "decode_seconds",
    "append_ms": "append_seconds",
    "attention_ms": "attention_seconds", "attention_GBps": "attention_seconds",
    "weights_ms": "weights_seconds",
    "prefill_ms": "prefill_seconds", "prefill_TFLOPs": "prefill_seconds",
}
# Before schema 3: further metrics derived from one series (a rate over a ceiling that is fixed within a file).
SERIES_OF = dict(SPREAD_METRICS, **{
    "fill_fraction_of_copy": "fill_seconds", "fill_fraction_of_roofline": "fill_seconds",
    "retrieve_fraction_of_copy": "retrieve_seconds", "retrieve_fraction_of_roofline": "retrieve_seconds",
    "attention_fraction_of_read": "attention_seconds", "weights_GBps": "weights_seconds",
    "prefill_fraction_of_gemm": "prefill_seconds",
})
# Before schema 3: series -> the phase's summary column max/min of its repetitions (schema 2).
SPREAD_COLUMN = {"fill_seconds": "fill_spread", "retrieve_seconds": "retrieve_spread",
                 "decode_seconds": "decode_spread", "prefill_seconds": "prefill_spread"}
SPREAD_WARNING = 1.5  # max/min of a phase's repetitions above this is warned about

# A fraction of a ceiling above 1 is stored as NaN; `ceiling_exceeded` lists name=value of each.
CEILING_EXCEEDED = "ceiling_exceeded"


def _kind(column, attrs):
    """The column's `kind` attribute (schema 3), else None."""
    return ((attrs or {}).get("kind") or {}).get(column)


def is_fraction(column, attrs=None):
    kind = _kind(column, attrs)
    return kind == "fraction" if kind is not None else "_fraction_of_" in column


def series_of(metric, attrs=None):
    """The /points/<n> series whose repetitions a median figure summarises, or None (not timed)."""
    kind = _kind(metric, attrs)
    if kind is None:
        return SERIES_OF.get(metric)
    return (attrs.get("series") or {}).get(metric) or None if kind != "spread" else None


def timed_metrics(attrs=None):
    """{timed metric: its series}: the figures with `M_min`/`M_max` over the repetitions."""
    kinds = (attrs or {}).get("kind") or {}
    series = (attrs or {}).get("series") or {}
    out = {metric: name for metric, name in SPREAD_METRICS.items() if metric not in kinds}
    out.update({metric: series[metric] for metric, kind in kinds.items()
                if kind in ("rate", "time") and series.get(metric) and f"{metric}_min" in kinds})
    return out


def spread_columns(attrs=None):
    """{series: the phase's spread column (slowest / fastest repetition)}."""
    kinds = (attrs or {}).get("kind") or {}
    out = {name: column for name, column in SPREAD_COLUMN.items() if column not in kinds}
    out.update({(attrs.get("series") or {})[c]: c for c, kind in kinds.items() if kind == "spread"})
    return out


# Schema 1 has no `better` attribute: times, sizes and errors are better lower, the rest higher.
LOWER_IS_BETTER_SUFFIXES = ("_ms", "_seconds", "_bytes", "_rel_err", "_rel_l2", "_max_abs")
BETTER = ("higher", "lower", "none")


def better(column, attributes=None):
    """'higher' | 'lower' | 'none': the column's `better` attribute, else the suffix rule."""
    given = (attributes or {}).get(column)
    if given in BETTER:
        return given
    return "lower" if column.endswith(LOWER_IS_BETTER_SUFFIXES) else "higher"


def is_time(metric, attrs=None):
    """A metric proportional to its seconds (a time), not inversely (a rate)."""
    kind = _kind(metric, attrs)
    return kind == "time" if kind is not None else metric.endswith("_ms")


ATTRIBUTES = ("units", "better", "kind", "series")


def merged_attrs(frames, first=None):
    """The column attributes of several frames, the first frame's where they differ."""
    out = {a: dict(first or {}) if a == "units" else {} for a in ATTRIBUTES}
    for df in frames:
        for a in ATTRIBUTES:
            for column, value in df.attrs.get(a, {}).items():
                out[a].setdefault(column, value)
    return out


def finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
