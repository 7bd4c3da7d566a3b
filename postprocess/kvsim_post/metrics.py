"""What the summary columns measure: the one declaration of timed metrics, the repetition series
behind them, ceiling fractions, and which direction is better (docs/hdf5-schema.md).
"""

import math

# Timed metric -> the /points/<n> series of repetition seconds it is computed from. A rate is
# (constant work) / seconds, a time is seconds scaled: either way a slower repetition has more
# seconds, which is what compare's significance test looks at. Schema 2 writes `M_min`/`M_max`
# for each of SPREAD_METRICS.
SPREAD_METRICS = {
    "fill_positions_per_s": "fill_seconds", "fill_GBps": "fill_seconds",
    "retrieve_ops_per_s": "retrieve_seconds", "retrieve_GBps": "retrieve_seconds",
    "tokens_per_s": "decode_seconds",
    "append_ms": "append_seconds",
    "attention_ms": "attention_seconds", "attention_GBps": "attention_seconds",
    "weights_ms": "weights_seconds",
    "prefill_ms": "prefill_seconds", "prefill_TFLOPs": "prefill_seconds",
}
# Further metrics derived from one series (a rate over a ceiling that is fixed within a file).
SERIES_OF = dict(SPREAD_METRICS, **{
    "fill_fraction_of_copy": "fill_seconds", "fill_fraction_of_roofline": "fill_seconds",
    "retrieve_fraction_of_copy": "retrieve_seconds", "retrieve_fraction_of_roofline": "retrieve_seconds",
    "attention_fraction_of_read": "attention_seconds", "weights_GBps": "weights_seconds",
    "prefill_fraction_of_gemm": "prefill_seconds",
})
# Series -> the phase's summary column max/min of its repetitions (schema 2).
SPREAD_COLUMN = {"fill_seconds": "fill_spread", "retrieve_seconds": "retrieve_spread",
                 "decode_seconds": "decode_spread", "prefill_seconds": "prefill_spread"}
SPREAD_WARNING = 1.5  # max/min of a phase's repetitions above this is warned about

# A fraction of a ceiling above 1 is stored as NaN; `ceiling_exceeded` lists name=value of each.
CEILING_EXCEEDED = "ceiling_exceeded"


def is_fraction(column):
    return "_fraction_of_" in column


# Schema 1 has no `better` attribute: times, sizes and errors are better lower, the rest higher.
LOWER_IS_BETTER_SUFFIXES = ("_ms", "_seconds", "_bytes", "_rel_err", "_rel_l2", "_max_abs")
BETTER = ("higher", "lower", "none")


def better(column, attributes=None):
    """'higher' | 'lower' | 'none': the column's `better` attribute, else the suffix rule."""
    given = (attributes or {}).get(column)
    if given in BETTER:
        return given
    return "lower" if column.endswith(LOWER_IS_BETTER_SUFFIXES) else "higher"


def is_time(metric):
    """A metric proportional to its seconds (a time), not inversely (a rate)."""
    return metric.endswith("_ms")


def finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
