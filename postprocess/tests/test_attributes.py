"""Schema 3: what a column measures comes from its attributes, so a metric kvsim_post has never
heard of is read, ranged, judged and folded like the ones it has (no Python list to extend)."""
import numpy as np

from kvsim_post import load_summary
from kvsim_post import metrics as m
from kvsim_post import spread
from kvsim_post.compare import compare_frames
from make_files import V2_TIMED, v2_edited

STR = "series"


def _as_schema_3(f):
    """A schema-2 file given the schema-3 attributes, plus a metric no Python table names."""
    f.attrs["kvsim_schema"] = np.int64(3)
    summary = f["summary"]
    for name, ds in summary.items():
        timed = V2_TIMED.get(name)
        kind = timed[1] if timed else ("spread" if name.endswith("_spread") else "count")
        ds.attrs["kind"] = kind
        ds.attrs[STR] = timed[0] if timed else (f"{name[:-len('_spread')]}_seconds" if kind == "spread" else "")
    # decode_us: a time per token over decode_seconds, in a unit no suffix rule knows.
    ms = summary["append_ms"][()]
    for suffix, values in (("", ms), ("_min", summary["append_ms_min"][()]), ("_max", summary["append_ms_max"][()])):
        ds = summary.create_dataset(f"decode_us{suffix}", data=values * 1e3)
        ds.attrs["units"], ds.attrs["better"], ds.attrs["kind"] = "us/token", "lower", "time"
        ds.attrs[STR] = "append_seconds" if not suffix else ""


def test_a_new_metric_is_known_by_its_attributes(tmp_path):
    df = load_summary(v2_edited(tmp_path / "a.h5", _as_schema_3))
    assert df.attrs["kind"]["decode_us"] == "time" and df.attrs["series"]["decode_us"] == "append_seconds"
    assert m.series_of("decode_us", df.attrs) == "append_seconds"
    assert m.series_of("decode_us_min", df.attrs) is None  # one repetition: no significance test
    assert m.series_of("fill_spread", df.attrs) is None
    assert m.is_time("decode_us", df.attrs) and not m.is_time("fill_GBps", df.attrs)
    assert m.better("decode_us", df.attrs["better"]) == "lower"
    assert m.timed_metrics(df.attrs)["decode_us"] == "append_seconds"
    assert m.spread_columns(df.attrs)["fill_seconds"] == "fill_spread"
    shown = spread.shown(df)
    assert "decode_us_min" not in shown.columns and "–" in shown["decode_us"].iloc[0]


def test_compare_judges_a_new_timed_metric(tmp_path):
    a = load_summary(v2_edited(tmp_path / "a.h5", _as_schema_3))
    b = load_summary(v2_edited(tmp_path / "b.h5", _as_schema_3))
    result = compare_frames(a, b, metrics=["decode_us"])
    assert "decode_us p" in result.table.columns  # timed: it has a repetition series
