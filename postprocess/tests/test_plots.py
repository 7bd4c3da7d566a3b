"""The plots' data and labels, checked on the Plot objects and on the drawn matplotlib axes."""

import re

import numpy as np
import pytest

from kvsim_post import load_summary, plots, spread
from make_files import (FLAT_SUMMARY, FULL_PLOTS, FULL_ROOT, FULL_SUMMARY, changed, column, v2_run, with_units,
                        write_full, write_v2)


def data_of(*paths):
    return plots.combine([load_summary(p) for p in paths], plots.file_labels(paths))


def by_name(built):
    return {p.filename: p for p in built}


def test_full_file_makes_every_plot_with_unit_labels(full_file):
    built = by_name(plots.build_plots(data_of(full_file)))
    assert all(isinstance(p, plots.Plot) for p in built.values()), [p for p in built.values() if isinstance(p, plots.Skipped)]
    assert {name: (p.xlabel, p.ylabel) for name, p in built.items()} == FULL_PLOTS


def test_axis_units_come_from_the_file(tmp_path):
    path = write_full(tmp_path / "units.h5", with_units(with_units(FULL_SUMMARY, "fill_GBps", "MB/s"), "positions", "slots"))
    plot = by_name(plots.build_plots(data_of(path)))["fill_GBps_vs_positions.png"]
    assert (plot.xlabel, plot.ylabel) == ("context length [slots]", "fill bandwidth [MB/s]")


def lines_of(plot):
    return [s for s in plot.series if s.style == "line"]


@pytest.mark.parametrize("metric", ["fill_GBps", "retrieve_GBps", "tokens_per_s", "kv_cache_bytes"])
def test_context_lines_hold_the_files_numbers(full_file, metric):
    plot = by_name(plots.build_plots(data_of(full_file)))[f"{metric}_vs_positions.png"]
    assert [s.label for s in lines_of(plot)] == ["fp16 contiguous", "int8 paged"]
    # A bandwidth shows the file's copy ceiling across the context lengths; others do not.
    levels = [s for s in plot.series if s.style == "level"]
    if metric.endswith("_GBps"):
        assert [(s.label, list(s.x), list(s.y)) for s in levels] == [("copy ceiling", [4096, 16384], [2876.5432109])]
    else:
        assert levels == []
    values = column(FULL_SUMMARY, metric)
    for series, rows in zip(plot.series, (slice(0, 3), slice(3, 6))):
        np.testing.assert_array_equal(series.x, column(FULL_SUMMARY, "positions")[rows])
        np.testing.assert_array_equal(series.y, values[rows])
    assert not plot.logx  # 4096..16384 spans a factor of 4: linear (log from a factor of 8)


def test_bandwidth_bars_and_ceiling(full_file):
    plot = plots.plot_bandwidth_vs_copy(data_of(full_file))
    assert [(s.label, s.style) for s in plot.series] == [
        ("fill_GBps", "bar"), ("retrieve_GBps", "bar"), ("copy_GBps (ceiling)", "ceiling")]
    np.testing.assert_array_equal(plot.series[0].y, column(FULL_SUMMARY, "fill_GBps"))
    np.testing.assert_array_equal(plot.series[1].y, column(FULL_SUMMARY, "retrieve_GBps"))
    np.testing.assert_array_equal(plot.series[2].y, [FULL_ROOT["copy_GBps"]] * 6)
    # Tick labels: point index and the configuration columns that differ between points.
    assert plot.categories == ["#0 fp16 contiguous 0 4096", "#1 fp16 contiguous 0 8192", "#2 fp16 contiguous 0 16384",
                               "#3 int8 paged 16 4096", "#4 int8 paged 16 8192", "#5 int8 paged 16 16384"]


def test_decode_bars_stack_the_phases(full_file):
    plot = plots.plot_decode_phases(data_of(full_file))
    assert [s.label for s in plot.series] == ["append_ms", "attention_ms", "weights_ms"]
    append, attention, weights = (np.array(column(FULL_SUMMARY, p)) for p in plots.DECODE_PHASES)
    np.testing.assert_array_equal(plot.series[1].y, attention)
    np.testing.assert_array_equal(plot.series[1].bottom, append)
    np.testing.assert_array_equal(plot.series[2].bottom, append + attention)
    np.testing.assert_array_equal(plot.series[2].y, weights)


def test_error_plot_uses_attention_error_of_decode_points(full_file):
    plot = plots.plot_error_vs_bytes(data_of(full_file))
    assert plot.logy
    assert [s.label for s in plot.series] == ["fp16", "int8"]
    np.testing.assert_array_equal(plot.series[0].x, [131072] * 3)
    np.testing.assert_array_equal(plot.series[1].y, column(FULL_SUMMARY, "attention_rel_err")[3:])


def test_error_plot_falls_back_to_recon_when_attention_did_not_run(tmp_path):
    path = write_full(tmp_path / "noattn.h5", changed(FULL_SUMMARY, "attention_rel_err", [-1.0] * 6))
    plot = plots.plot_error_vs_bytes(data_of(path))
    assert plot.filename == "recon_rel_l2_vs_bytes_per_position.png"
    np.testing.assert_array_equal(plot.series[1].y, column(FULL_SUMMARY, "recon_rel_l2")[3:])


def test_flat_file_skips_context_and_decode_plots(flat_file):
    built = by_name(plots.build_plots(data_of(flat_file)))
    skipped = {name: p.reason for name, p in built.items() if isinstance(p, plots.Skipped)}
    assert set(skipped) == {"fill_GBps_vs_positions.png", "retrieve_GBps_vs_positions.png",
                            "tokens_per_s_vs_positions.png", "kv_cache_bytes_vs_positions.png",
                            "decode_ms_per_token_by_phase.png"}
    assert "more than one distinct positions value" in skipped["retrieve_GBps_vs_positions.png"]
    assert skipped["tokens_per_s_vs_positions.png"] == "no 'tokens_per_s' column"
    assert "no decode points" in skipped["decode_ms_per_token_by_phase.png"]


def test_exact_points_are_left_off_the_log_axis_with_a_note(flat_file):
    plot = plots.plot_error_vs_bytes(data_of(flat_file))
    assert [s.label for s in plot.series] == ["fp16", "int8"]  # fp32 (error 0) not drawn
    assert sum(len(s.y) for s in plot.series) == 5
    assert all((s.y > 0).all() for s in plot.series)
    assert plot.notes == ["1 point(s) with recon_rel_l2 = 0 (exact) cannot be drawn on a log axis: #0 fp32 contiguous 0"]
    np.testing.assert_array_equal(plot.series[1].y, column(FLAT_SUMMARY, "recon_rel_l2")[3:])


def test_several_files_get_separate_labelled_series(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_full(tmp_path / "a" / "run.h5")
    b = write_full(tmp_path / "b" / "run.h5", changed(FULL_SUMMARY, "retrieve_GBps", scale=0.5))
    assert plots.file_labels([a, b]) == ["a/run.h5", "b/run.h5"]
    plot = plots.plot_vs_positions(data_of(a, b), "retrieve_GBps", "t")
    assert [s.label for s in lines_of(plot)] == ["a/run.h5: fp16 contiguous", "a/run.h5: int8 paged",
                                                 "b/run.h5: fp16 contiguous", "b/run.h5: int8 paged"]
    assert [s.label for s in plot.series if s.style == "level"] == ["copy ceiling (a/run.h5)", "copy ceiling (b/run.h5)"]
    np.testing.assert_array_equal(plot.series[3].y, np.array(column(FULL_SUMMARY, "retrieve_GBps")[3:]) * 0.5)


def test_lines_never_join_different_configurations(tmp_path):
    # Two policies at each context length: without the split, one line would zigzag between them.
    summary = changed(FULL_SUMMARY, "policy", ["ring", "ring", "ring", "h2o", "h2o", "h2o"])
    summary = changed(changed(summary, "dtype", ["fp16"] * 6), "layout", ["contiguous"] * 6)
    path = write_full(tmp_path / "policies.h5", changed(summary, "page_size", [0] * 6))
    plot = plots.plot_vs_positions(data_of(path), "fill_GBps", "t")
    assert [s.label for s in lines_of(plot)] == ["fp16 contiguous policy=ring", "fp16 contiguous policy=h2o"]


def drawn(ax):
    """What the axes show, per style: lines (x, y), bars (x centre, height, bottom), ceilings (y),
    and error bars {label: (low ends, high ends)}."""
    from matplotlib.container import BarContainer, ErrorbarContainer

    visible = lambda artist: not artist.get_label().startswith("_")  # noqa: E731 (matplotlib's unlabelled parts)
    with_errors = [c for c in ax.containers if isinstance(c, ErrorbarContainer) and visible(c)]
    lines = [(l.get_label(), l.get_xdata(), l.get_ydata()) for l in ax.get_lines() if visible(l)]
    lines += [(c.get_label(), c.lines[0].get_xdata(), c.lines[0].get_ydata()) for c in with_errors]
    bar_containers = [c for c in ax.containers if isinstance(c, BarContainer)]
    bars = [(c.get_label(), np.array([p.get_x() + p.get_width() / 2 for p in c.patches]),
             np.array([p.get_height() for p in c.patches]), np.array([p.get_y() for p in c.patches]))
            for c in bar_containers]
    ceilings = [(c.get_label(), np.array([seg[0][1] for seg in c.get_segments()])) for c in ax.collections if visible(c)]
    errors = {}
    for label, container in [(c.get_label(), c) for c in with_errors] + [(c.get_label(), c.errorbar) for c in bar_containers if c.errorbar]:
        segments = container.lines[2][0].get_segments()
        errors[label] = (np.array([seg[0][1] for seg in segments]), np.array([seg[1][1] for seg in segments]))
    return lines, bars, ceilings, errors


@pytest.mark.parametrize("schema", [1, 2])
def test_drawn_figures_show_exactly_the_plot_data(tmp_path, full_file, schema):
    path = full_file if schema == 1 else write_v2(tmp_path / "v2.h5")
    for plot in plots.build_plots(data_of(path)):
        ax = plots.draw(plot).axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == (plot.xlabel, plot.ylabel)
        lines, bars, ceilings, errors = drawn(ax)
        want_lines = [s for s in plot.series if s.style in ("line", "points")]
        assert [label for label, _, _ in lines] == [s.label for s in want_lines]
        for (_, x, y), s in zip(lines, want_lines):
            np.testing.assert_array_equal(x, s.x)
            np.testing.assert_array_equal(y, s.y)
        want_bars = [s for s in plot.series if s.style in ("bar", "stack")]
        assert [label for label, *_ in bars] == [s.label for s in want_bars]
        for (_, centres, heights, bottoms), s in zip(bars, want_bars):
            np.testing.assert_allclose(np.round(centres), s.x)
            # matplotlib keeps a bar as corners, so height = top - bottom: equal to rounding.
            np.testing.assert_allclose(heights, s.y, rtol=1e-12)
            np.testing.assert_allclose(bottoms, s.bottom if s.bottom is not None else 0, rtol=1e-12)
        want_ceilings = [s for s in plot.series if s.style in ("ceiling", "level")]
        assert [(label, list(y)) for label, y in ceilings] == [(s.label, list(s.y)) for s in want_ceilings]
        want_errors = {s.label: (s.low, s.high) for s in plot.series if s.low is not None}
        assert sorted(errors) == sorted(want_errors)
        for label, (low, high) in want_errors.items():
            np.testing.assert_allclose(errors[label][0], low, rtol=1e-12)
            np.testing.assert_allclose(errors[label][1], high, rtol=1e-12)
        if want_errors:
            assert ax.get_legend().get_title().get_text() == plots.ERROR_BARS
        if plot.logy:
            assert ax.get_yscale() == "log"


def test_error_bars_are_the_repetitions_min_and_max(tmp_path):
    path = write_v2(tmp_path / "v2.h5")
    summary = v2_run(output=str(path))[0]
    built = by_name(plots.build_plots(data_of(path)))
    for name, metric in (("fill_GBps_vs_positions.png", "fill_GBps"), ("tokens_per_s_vs_positions.png", "tokens_per_s")):
        plot = built[name]
        assert plots.ERROR_BARS in plot.notes
        for series, rows in zip(plot.series, (slice(0, 3), slice(3, 6))):
            np.testing.assert_array_equal(series.low, column(summary, f"{metric}_min")[rows])
            np.testing.assert_array_equal(series.high, column(summary, f"{metric}_max")[rows])
    bars = built["bandwidth_achieved_vs_copy.png"]
    np.testing.assert_array_equal(bars.series[1].high, column(summary, "retrieve_GBps_max"))
    assert built["kv_cache_bytes_vs_positions.png"].series[0].low is None  # not timed: no bars


def test_schema1_error_bars_come_from_the_series(full_file):
    data = plots.combine([spread.with_spread(load_summary(full_file))], ["full.h5"])
    plot = plots.plot_vs_positions(data, "fill_GBps", "t")
    # write_full gives points 0, 2, 4 the fill_seconds of POINTS[0]: median 0.0017535, min 0.0017529, max 0.0017541.
    np.testing.assert_allclose(plot.series[0].low[0], column(FULL_SUMMARY, "fill_GBps")[0] * 0.0017535 / 0.0017541)
    np.testing.assert_allclose(plot.series[0].high[0], column(FULL_SUMMARY, "fill_GBps")[0] * 0.0017535 / 0.0017529)


def two_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_full(tmp_path / "a" / "run.h5")
    # The second file's int8 points have the first file's numbers: identical series must stay visible.
    b = write_full(tmp_path / "b" / "run.h5", changed(FULL_SUMMARY, "retrieve_GBps", scale=0.5))
    return data_of(a, b)


def test_colour_follows_the_configuration_and_marker_the_file(tmp_path):
    plot = plots.plot_vs_positions(two_files(tmp_path), "retrieve_GBps", "t")
    ax = plots.draw(plot).axes[0]
    look = {}
    for line in ax.get_lines():
        if not line.get_label().startswith("_"):
            look[line.get_label()] = (line.get_color(), line.get_marker(), line.get_linestyle())
    for c in ax.containers:  # error-bar lines keep their data line inside the container
        if hasattr(c, "lines") and not c.get_label().startswith("_"):
            data_line = c.lines[0]
            look[c.get_label()] = (data_line.get_color(), data_line.get_marker(), data_line.get_linestyle())
    fp16_a, int8_a = look["a/run.h5: fp16 contiguous"], look["a/run.h5: int8 paged"]
    fp16_b, int8_b = look["b/run.h5: fp16 contiguous"], look["b/run.h5: int8 paged"]
    assert fp16_a[0] == fp16_b[0] != int8_a[0] == int8_b[0]  # one colour per configuration, in both files
    assert fp16_a[1:] == int8_a[1:] != fp16_b[1:] == int8_b[1:]  # one marker and line style per file
    assert {fp16_a[0].lower(), int8_a[0].lower()} <= {c.lower() for c in plots.PALETTE}  # the colour-blind palette
    # Each file's ceiling in the file's line style.
    ceilings = {c.get_label(): c.get_linestyle() for c in ax.collections if c.get_label().startswith("copy ceiling")}
    assert set(ceilings) == {"copy ceiling (a/run.h5)", "copy ceiling (b/run.h5)"}
    assert ceilings["copy ceiling (a/run.h5)"] != ceilings["copy ceiling (b/run.h5)"]


def test_legend_is_outside_the_data(full_file):
    for plot in plots.build_plots(data_of(full_file)):
        fig = plots.draw(plot)
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1, plot.filename


def test_byte_axes_read_in_human_units(full_file):
    plot = by_name(plots.build_plots(data_of(full_file)))["kv_cache_bytes_vs_positions.png"]
    assert plot.ybytes and plot.ylabel == "KV-cache size"
    fig = plots.draw(plot)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"-?[\d.]+ ?[kMGT]?B", t.replace("\u2212", "-")) for t in labels), labels
    assert ax.yaxis.get_major_formatter()(2.4e6) == "2.4 MB"
    assert plots.human_bytes(32768, binary=True) == "32 KiB" and plots.human_bytes(536870912) == "536.9 MB"


def test_log_byte_axis_ticks_at_powers_of_two(full_file):
    plot = by_name(plots.build_plots(data_of(full_file)))["attention_rel_err_vs_bytes_per_position.png"]
    assert plot.xbytes and plot.logx
    fig = plots.draw(plot)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"\d+ (B|KiB|MiB)", t) for t in labels), labels
