"""Report plots, as data first and pictures second.

Each plot_* function returns a Plot (the x/y arrays of every series and the axis labels with
units) or a Skipped (why the data cannot make that plot). draw() is the only code that turns a
Plot into a matplotlib Figure, so tests check the numbers and labels on the Plot, and that
draw() drew exactly them, without parsing images.

The functions take the frame from combine(): every file's /summary with a `file` column (a
short label per file) and a `copy_GBps` column (the file's copy ceiling, a root attribute).
"""

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .metrics import merged_attrs
from .load import CONFIG_COLUMNS
from .table import human_bytes

DECODE_PHASES = ("append_ms", "attention_ms", "weights_ms")
ERROR_BARS = "error bars: min–max over the repetitions"
# Okabe & Ito's colour-blind-safe palette (blue, orange, green, vermillion, purple, sky blue,
# yellow, black): a configuration keeps its colour in every file of one plot.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# The file a series comes from: its marker and line style.
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.")
# Axis names for readers; the units follow once, in brackets (none for plain numbers).
READABLE = {
    "positions": "context length", "point": "point", "fill_GBps": "fill bandwidth",
    "retrieve_GBps": "retrieve bandwidth", "tokens_per_s": "decode throughput", "kv_cache_bytes": "KV-cache size",
    "bytes_per_position": "stored bytes per position", "attention_rel_err": "attention relative error",
    "recon_rel_l2": "reconstruction relative L2 error", "attention_mass_kept": "softmax mass kept",
    "attention_topk_recall": "top-k recall of attention positions", "attention_top_mass": "softmax mass on the top 5%",
    "next_input_rel_err": "next-layer input relative error",
}


@dataclass
class Series:
    label: str
    x: np.ndarray
    y: np.ndarray
    style: str = "line"  # line | points | bar | stack | ceiling (per bar) | level (y[0] across x's span)
    bottom: np.ndarray = None  # stack: where each bar starts
    low: np.ndarray = None  # error bar ends (line, bar): the metric over the fastest and slowest
    high: np.ndarray = None  # repetitions, from the `_min`/`_max` columns (spread.with_spread)
    key: str = None  # what picks the colour: the configuration, the same in every file (default: label)
    file: str = None  # what picks the marker and line style, with several files


@dataclass
class Plot:
    filename: str
    title: str
    xlabel: str
    ylabel: str
    series: list
    categories: list = None  # bar plots: tick label of x = 0, 1, ...
    logx: bool = False
    logy: bool = False
    notes: list = field(default_factory=list)
    xbytes: bool = False  # a byte axis: ticks in kB, MB, GB (the label then carries no unit)
    ybytes: bool = False


@dataclass
class Skipped:
    filename: str
    title: str
    reason: str


def file_labels(paths):
    """Shortest trailing path parts that tell the files apart (run.h5, or 4/run.h5 vs 5/run.h5)."""
    parts = [os.path.normpath(os.fspath(p)).split(os.sep) for p in paths]
    for k in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [os.fspath(p) for p in paths]  # the same path twice: nothing tells them apart


def combine(frames, labels):
    """One frame for all files, with `file` and `copy_GBps` columns; units merged."""
    attrs = merged_attrs(frames, {"file": "", "copy_GBps": "GB/s"})
    tagged = []
    for df, label in zip(frames, labels):
        df = df.copy()
        df.insert(0, "file", label)
        df["copy_GBps"] = float(df.attrs["meta"].get("copy_GBps", np.nan))
        df.attrs = {}  # concat compares attrs, and the series arrays make that fail
        tagged.append(df)
    data = pd.concat(tagged, ignore_index=True)
    data.attrs.update(attrs)  # pandas does not carry attrs through concat
    return data


def axis_label(column, units, text=None):
    """`context length [positions]`: a reader's name, the unit once; no brackets for plain
    numbers (unit 1) or bytes (the ticks carry kB, MB, GB)."""
    unit = units.get(column) or "1"
    name = text or READABLE.get(column, column)
    return name if unit in ("1", "bytes") else f"{name} [{unit}]"


def _is_bytes(column, units):
    return units.get(column) == "bytes"


def _present(df, column):
    return column in df.columns and df[column].notna().any()


def _decode_rows(df):
    if not _present(df, "decode_tokens"):
        return df.iloc[0:0]
    return df[df["decode_tokens"].fillna(0) > 0]


def _range(rows, metric):
    """(low, high) of the metric's repetitions for these rows, or (None, None) when unknown."""
    low, high = f"{metric}_min", f"{metric}_max"
    if not (_present(rows, low) and _present(rows, high)):
        return None, None
    return rows[low].to_numpy(float), rows[high].to_numpy(float)


def _error_note(series):
    return [ERROR_BARS] if any(s.low is not None for s in series) else []


def _several_files(df):
    return df["file"].nunique() > 1


def _varying(df, skip):
    return [c for c in CONFIG_COLUMNS if c in df.columns and c not in skip and df[c].nunique(dropna=False) > 1]


def _value(v):
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _split(df, by):
    """(values dict, rows) per distinct combination of `by`, in first-seen order."""
    if not by:
        return [({}, df)]
    grouped = df.groupby(by if len(by) > 1 else by[0], sort=False, dropna=False)
    return [(dict(zip(by, v if isinstance(v, tuple) else (v,))), rows) for v, rows in grouped]


def _groups(df, named, skip):
    """(label, rows, colour key, file) per series: by `named` columns, then split further by
    any other configuration column that varies among those rows, so no line joins different
    configurations. The key is the label without the file: one configuration, one colour."""
    keys = (["file"] if _several_files(df) else []) + [c for c in named if c in df.columns]
    out = []
    for shown, rows in _split(df, keys):
        extra = _varying(rows, set(keys) | set(skip))
        for more, part in _split(rows, extra):
            key = " ".join(_value(shown[c]) for c in keys if c != "file")
            key = (key + "".join(f" {c}={_value(v)}" for c, v in more.items())).strip() or "all points"
            label = f"{shown['file']}: {key}" if "file" in shown else key
            out.append((label, part, key, shown.get("file")))
    return out


def _point_labels(df):
    """Bar tick labels: point index plus the configuration that tells points apart."""
    varying = _varying(df, set())
    if "positions" in varying and "max_positions" in varying:
        varying.remove("max_positions")  # context sweeps move both together: say it once
    labels = []
    points = df["point"] if "point" in df.columns else pd.Series(range(len(df)), index=df.index)
    for (_, row), point in zip(df.iterrows(), points):
        head = f"{row['file']}:{int(point)}" if _several_files(df) else f"#{int(point)}"
        label = " ".join([head] + [_value(row[c]) for c in varying])
        labels.append(label if len(label) <= 40 else label[:39] + "…")
    return labels


def _wide(values):
    """Log scale when the values span a factor of 8 or more (context sweeps double each step)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return values.size > 1 and values.max() / values.min() >= 8


def plot_vs_positions(df, metric, title, decode_only=False):
    """One line per precision and layout: metric against context length (positions)."""
    filename = f"{metric}_vs_positions.png"
    units = df.attrs["units"]
    if not _present(df, metric):
        return Skipped(filename, title, f"no '{metric}' column")
    if not _present(df, "positions"):
        return Skipped(filename, title, "no 'positions' column")
    rows = _decode_rows(df) if decode_only else df
    if rows.empty:
        return Skipped(filename, title, "no decode points (decode_tokens > 0)")
    distinct = sorted(rows["positions"].unique())
    if len(distinct) < 2:
        return Skipped(filename, title, f"needs more than one distinct positions value (all points have {_value(distinct[0])})")
    groups = _groups(rows, ["dtype", "layout"], skip={"positions", "max_positions"})
    # With several files, configurations run at one context length only would be lone dots.
    lines = [g for g in groups if g[1]["positions"].nunique() > 1]
    notes = []
    if len(lines) < len(groups):
        notes.append(f"{len(groups) - len(lines)} configuration(s) run at a single context length are left out")
    series = []
    for label, group, key, file in lines:
        group = group.sort_values("positions", kind="stable")
        low, high = _range(group, metric)
        series.append(Series(label, group["positions"].to_numpy(float), group[metric].to_numpy(float), low=low, high=high,
                             key=key, file=file))
    if not series:
        return Skipped(filename, title, "no configuration was run at more than one context length")
    shown = pd.concat([g for _, g, _, _ in lines])
    if units.get(metric) == units.get("copy_GBps") and _present(shown, "copy_GBps"):
        # A bandwidth: the file's measured copy ceiling, across the context lengths drawn.
        span = np.array([shown["positions"].min(), shown["positions"].max()], dtype=float)
        several = _several_files(df)
        for file, ceiling in shown.groupby("file", sort=False)["copy_GBps"].first().items():
            if np.isfinite(ceiling):
                series.append(Series(f"copy ceiling ({file})" if several else "copy ceiling", span,
                                     np.array([ceiling]), style="level", file=file if several else None))
    return Plot(filename, title, axis_label("positions", units), axis_label(metric, units), series,
                logx=_wide(shown["positions"]), logy=_wide(shown[metric]), notes=notes + _error_note(series),
                ybytes=_is_bytes(metric, units))


def plot_bandwidth_vs_copy(df):
    filename, title = "bandwidth_achieved_vs_copy.png", "Achieved fill and retrieve bandwidth vs the copy ceiling"
    units = df.attrs["units"]
    metrics = [m for m in ("fill_GBps", "retrieve_GBps") if _present(df, m)]
    if not metrics:
        return Skipped(filename, title, "no 'fill_GBps' or 'retrieve_GBps' column")
    if not _present(df, "copy_GBps"):
        return Skipped(filename, title, "no 'copy_GBps' root attribute (the copy ceiling)")
    x = np.arange(len(df), dtype=float)
    series = [Series(m, x, df[m].to_numpy(float), style="bar", low=_range(df, m)[0], high=_range(df, m)[1])
              for m in metrics]
    notes = _error_note(series)
    series.append(Series("copy_GBps (ceiling)", x, df["copy_GBps"].to_numpy(float), style="ceiling"))
    return Plot(filename, title, axis_label("point", units), axis_label(metrics[0], units, "bandwidth"),
                series, categories=_point_labels(df), notes=notes)


def plot_decode_phases(df):
    filename, title = "decode_ms_per_token_by_phase.png", "Decode time per token, by phase"
    units = df.attrs["units"]
    rows = _decode_rows(df)
    if rows.empty:
        return Skipped(filename, title, "no decode points (decode_tokens > 0)")
    phases = [p for p in DECODE_PHASES if _present(rows, p)]
    if not phases:
        return Skipped(filename, title, "no append_ms / attention_ms / weights_ms columns")
    x = np.arange(len(rows), dtype=float)
    bottom = np.zeros(len(rows))
    series = []
    for phase in phases:
        y = rows[phase].to_numpy(float)
        series.append(Series(phase, x, y, style="stack", bottom=bottom.copy()))
        bottom += np.nan_to_num(y)
    return Plot(filename, title, axis_label("point", units), axis_label(phases[0], units, "decode time"),
                series, categories=_point_labels(rows))


def plot_error_vs_bytes(df):
    """attention_rel_err of decode points; recon_rel_l2 (the stored values' error) without decode."""
    title = "Error vs stored bytes per position"
    units = df.attrs["units"]
    if not _present(df, "bytes_per_position"):
        return Skipped("error_vs_bytes_per_position.png", title, "no 'bytes_per_position' column")
    rows = _decode_rows(df)
    if _present(rows, "attention_rel_err"):
        rows = rows[rows["attention_rel_err"] >= 0]  # -1: attention not run for that point
    metric = "attention_rel_err" if not rows.empty and _present(rows, "attention_rel_err") else "recon_rel_l2"
    if metric == "recon_rel_l2":
        if not _present(df, metric):
            return Skipped("error_vs_bytes_per_position.png", title, "no 'attention_rel_err' of decode points and no 'recon_rel_l2' column")
        rows = df
    filename = f"{metric}_vs_bytes_per_position.png"
    name = READABLE[metric]
    title = f"{name[0].upper()}{name[1:]} vs stored bytes per position"
    positive = rows[rows[metric] > 0]
    notes = []
    if len(positive) < len(rows):
        exact = ~(rows[metric] > 0)
        what = ", ".join(label for label, drop in zip(_point_labels(rows), exact) if drop)
        notes.append(f"{len(rows) - len(positive)} point(s) with {metric} = 0 (exact) cannot be drawn on a log axis: {what}")
    if positive.empty:
        return Skipped(filename, title, f"every {metric} is 0: nothing to draw on a log axis")
    series = []
    for label, group, key, file in _groups(positive, ["dtype"], skip=set(CONFIG_COLUMNS)):
        series.append(Series(label, group["bytes_per_position"].to_numpy(float), group[metric].to_numpy(float), style="points",
                             key=key, file=file))
    return Plot(filename, title, axis_label("bytes_per_position", units), axis_label(metric, units), series,
                logx=True, logy=True, notes=notes, xbytes=_is_bytes("bytes_per_position", units))


QUALITY_PARETO = (("attention_mass_kept", "higher"), ("attention_rel_err", "lower"))


def _model_label(row):
    return f"L{int(row['layers'])} H{int(row['heads'])}/{int(row['kv_heads'])} d{int(row['head_dim'])}"


def held_bytes_per_position(rows):
    """Stored bytes per position of the context at the last token: bytes_per_position times the
    share of the context the policy holds (capacity slots of positions + decode_tokens)."""
    context = rows["positions"].to_numpy(float) + rows["decode_tokens"].fillna(0).to_numpy(float)
    held = np.minimum(rows["capacity"].to_numpy(float), context)
    return rows["bytes_per_position"].to_numpy(float) * held / context


def pareto_front(x, y, better):
    """Indices of the points no other point beats: no more bytes and a better or equal metric,
    strictly better in one; in increasing x."""
    sign = 1.0 if better == "higher" else -1.0
    order = sorted(range(len(x)), key=lambda i: (x[i], -sign * y[i]))
    front, best = [], -np.inf
    for i in order:
        if sign * y[i] > best:
            front.append(i)
            best = sign * y[i]
    return front


def plot_quality_pareto(df, metric, better):
    """One Plot per model shape: `metric` of every decode point against the bytes it holds per
    context position, a series per data kind, and each kind's Pareto front as a line."""
    units = df.attrs["units"]
    needed = [metric, "bytes_per_position", "capacity", "positions", "layers", "heads", "kv_heads", "head_dim"]
    missing = [c for c in needed if not _present(df, c)]
    generic = f"{metric}_pareto.png"
    title = f"{READABLE.get(metric, metric)} vs bytes held per context position"
    if missing:
        return [Skipped(generic, title, f"no '{missing[0]}' column")]
    rows = _decode_rows(df)
    rows = rows[rows[metric] >= 0] if not rows.empty else rows  # -1: not measured
    if rows.empty:
        return [Skipped(generic, title, f"no decode points with {metric} measured")]
    if "data" not in rows.columns:
        rows = rows.assign(data="uniform")  # files from before data.kind hold uniform data
    out = []
    models = rows.apply(_model_label, axis=1)
    for model in dict.fromkeys(models):
        part = rows[models == model]
        x_all = held_bytes_per_position(part)
        series, notes = [], []
        for kind in dict.fromkeys(part["data"]):
            mask = (part["data"] == kind).to_numpy()
            x, y = x_all[mask], part[metric].to_numpy(float)[mask]
            series.append(Series(f"{kind}", x, y, style="points"))
            front = pareto_front(x, y, better)
            series.append(Series(f"{kind} Pareto front", x[front], y[front], style="line"))
            designs = part[mask].iloc[front]
            notes.append(f"{kind} front: " + ", ".join(
                f"{r['dtype']} {r['policy']}" for _, r in designs.iterrows()))
        name = model.replace(" ", "_").replace("/", "-")
        out.append(Plot(f"{metric}_pareto_{name}.png", f"{title}, {model}",
                        axis_label("bytes_per_position", units, "bytes held per context position"),
                        axis_label(metric, units), series, logx=_wide(x_all), notes=notes))
    return out


def build_plots(df):
    """Every report plot, each a Plot or a Skipped, in report order."""
    built = [
        plot_vs_positions(df, "fill_GBps", "Fill throughput vs context length"),
        plot_vs_positions(df, "retrieve_GBps", "Retrieve throughput vs context length"),
        plot_vs_positions(df, "tokens_per_s", "Decode throughput vs context length", decode_only=True),
        plot_vs_positions(df, "kv_cache_bytes", "KV-cache memory vs context length"),
        plot_bandwidth_vs_copy(df),
        plot_decode_phases(df),
        plot_error_vs_bytes(df),
    ]
    if "attention_mass_kept" in df.columns:  # files from before the quality metrics have none
        for metric, better in QUALITY_PARETO:
            built += plot_quality_pareto(df, metric, better)
    if df.empty:  # an incomplete run before its first point: one reason says it all
        return [Skipped(p.filename, p.title, "no finished points") for p in built]
    return built


def _tick_text(v):
    """Context lengths and byte counts are powers of two: 131072 reads better as 128k."""
    v = int(v)
    for size, suffix in ((1 << 20, "M"), (1 << 10, "k")):
        if v >= size and v % size == 0:
            return f"{v // size}{suffix}"
    return str(v)


def draw(plot):
    """The Plot as a matplotlib Figure (Agg canvas: no display, no pyplot global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

    n = len(plot.categories) if plot.categories is not None else 0
    fig = Figure(figsize=(min(40, max(8, 0.3 * n + 2)), 4.8 + (1.2 if n else 0)), dpi=100)  # room for many bars
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars = [s for s in plot.series if s.style == "bar"]
    width = 0.8 / max(len(bars), 1)
    colour, marker, linestyle = styles(plot)
    files = list(dict.fromkeys(s.file for s in plot.series if s.file is not None))

    def marker_size(s):
        # Later files' markers hollow and larger: a series equal to another file's shows both.
        i = files.index(s.file) if s.file in files else 0
        return dict(fillstyle="full" if i == 0 else "none", markersize=6 + 3 * i)
    for s in plot.series:
        # One repetition: the median's rate and the min/max rates round apart by an ulp, either way.
        yerr = None if s.low is None else np.clip(np.nan_to_num(np.vstack([s.y - s.low, s.high - s.y])), 0, None)
        look = dict(color=colour(s), marker=marker(s), linestyle=linestyle(s), label=s.label, **marker_size(s))
        if s.style == "line" and yerr is not None:
            ax.errorbar(s.x, s.y, yerr=yerr, capsize=3, **look)
        elif s.style == "line":
            ax.plot(s.x, s.y, **look)
        elif s.style == "points":
            ax.plot(s.x, s.y, **dict(look, linestyle="none"))
        elif s.style == "bar":
            offset = (bars.index(s) - (len(bars) - 1) / 2) * width
            ax.bar(s.x + offset, s.y, width, yerr=yerr, capsize=2, color=colour(s), label=s.label)
        elif s.style == "stack":
            ax.bar(s.x, s.y, 0.6, bottom=s.bottom, color=colour(s), label=s.label)
        elif s.style == "ceiling":
            ax.hlines(s.y, s.x - 0.45, s.x + 0.45, colors="black", linewidths=2, label=s.label)
        elif s.style == "level":
            ax.hlines(s.y[:1], s.x.min(), s.x.max(), colors="black", linewidths=1.5, linestyles=linestyle(s),
                      label=s.label)
        else:
            raise ValueError(f"unknown series style {s.style!r}")
    if plot.logx:
        ax.set_xscale("log", base=2)
    if plot.logy:
        ax.set_yscale("log")
    if plot.categories is not None:
        # A zero-height stacked bar (weights_ms without model.weight_bytes) would pin the top of
        # the axis to the data: no sticky edges, and the floor set by hand instead.
        ax.use_sticky_edges = False
        ax.set_ylim(bottom=0)
        step = max(1, n // 60)  # past 60 bars, label every step-th
        ax.set_xticks(np.arange(0, n, step))
        ax.set_xticklabels(plot.categories[::step], rotation=30, ha="right", fontsize=8)
    elif plot.logx and not plot.xbytes:  # byte axes: powers of two, named by human_bytes
        ticks = np.unique(np.concatenate([s.x for s in plot.series]))
        if ticks.size <= 12:
            ax.set_xticks(ticks)
            ax.set_xticklabels([_tick_text(t) for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())  # x only: y minor ticks label narrow log ranges
    for bytes_axis, axis, log2 in ((plot.xbytes, ax.xaxis, plot.logx), (plot.ybytes, ax.yaxis, False)):
        if bytes_axis:
            # 2.4 MB, not 2.4e6 or 10^6; a log2 axis ticks at powers of two: 8 KiB, 16 KiB.
            axis.set_major_formatter(FuncFormatter(lambda v, _pos, log2=log2: human_bytes(v, binary=log2)))
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    ax.set_title(plot.title)
    ax.grid(True, alpha=0.3)
    legend_title = ERROR_BARS if ERROR_BARS in plot.notes else None  # say what the bars are, on the picture
    small = 7 if len(plot.series) > 8 else 8
    # Beside the data, never over it.
    ax.legend(fontsize=small, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, title=legend_title,
              title_fontsize=small)
    with warnings.catch_warnings():
        # Many long tick labels can defeat tight_layout; save_png's bbox_inches="tight" still fits them.
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    return fig


def styles(plot):
    """(colour, marker, line style) of a series, as functions: the colour from its key (its
    configuration) in first-seen order over the palette, so fp16 is one colour in every file;
    the marker and line style from its file, so identical series of two files stay visible."""
    keys, files = [], []
    for s in plot.series:
        key = s.key or s.label
        if s.style not in ("ceiling", "level") and key not in keys:
            keys.append(key)
        if s.file is not None and s.file not in files:
            files.append(s.file)

    def colour(s):
        return PALETTE[keys.index(s.key or s.label) % len(PALETTE)] if s.style not in ("ceiling", "level") else "black"

    def marker(s):
        return MARKERS[files.index(s.file) % len(MARKERS)] if s.file in files else MARKERS[0]

    def linestyle(s):
        if s.style == "level" and s.file not in files:
            return "--"
        return LINESTYLES[files.index(s.file) % len(LINESTYLES)] if s.file in files else "-"

    return colour, marker, linestyle


def save_png(plot, path):
    """The plot as PNG at path and, beside it, as SVG (same name, .svg): for a paper."""
    fig = draw(plot)
    fig.savefig(path, format="png", bbox_inches="tight")
    fig.savefig(os.path.splitext(path)[0] + ".svg", format="svg", bbox_inches="tight")
    return path
