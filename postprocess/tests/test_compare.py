"""`kvsim-post compare`: ratios, the regression verdict (exit 1) and bad input (exit 2)."""

import pytest

from cli_helpers import assert_one_line_error, cells, run_cli
from kvsim_post import load_summary
from kvsim_post.compare import compare_frames
from make_files import FULL_SUMMARY, changed, column, write_full


def table_rows(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    head = cells(lines[0])
    return [dict(zip(head, cells(line))) for line in lines[2:]]


@pytest.fixture
def baseline(tmp_path):
    return write_full(tmp_path / "a.h5")


def candidate(tmp_path, summary):
    return write_full(tmp_path / "b.h5", summary)


def test_equal_files_exit_0_with_ratios_of_1(tmp_path, baseline):
    result = run_cli("compare", baseline, candidate(tmp_path, FULL_SUMMARY))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table_rows(result.stdout)
    assert len(rows) == 6
    for row in rows:
        assert [row[f"{m} B/A"] for m in ("fill_GBps", "retrieve_GBps", "tokens_per_s")] == ["1", "1", "1"]
        assert row["regressed"] == ""
    assert "6 matching point(s)" in result.stdout and "0 regression(s)" in result.stdout


def test_ten_percent_slower_retrieve_exits_1(tmp_path, baseline):
    b = candidate(tmp_path, changed(FULL_SUMMARY, "retrieve_GBps", scale=0.9, rows={4}))
    result = run_cli("compare", baseline, b)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = table_rows(result.stdout)
    assert rows[4]["retrieve_GBps B/A"] == "0.9" and rows[4]["regressed"] == "retrieve_GBps"
    assert all(row["regressed"] == "" for i, row in enumerate(rows) if i != 4)
    assert "REGRESSION: A point 4 / B point 4 (dtype=int8, layout=paged, page_size=16, positions=8192, " \
           "max_positions=8192): retrieve_GBps 1905.5 -> 1714.95 (B/A 0.900)" in result.stdout


def test_ten_percent_faster_exits_0(tmp_path, baseline):
    result = run_cli("compare", baseline, candidate(tmp_path, changed(FULL_SUMMARY, "fill_GBps", scale=1.1)))
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("threshold, status", [(None, 0), ("0.03", 1)])
def test_threshold_decides(tmp_path, baseline, threshold, status):
    b = candidate(tmp_path, changed(FULL_SUMMARY, "tokens_per_s", scale=0.96, rows={0}))
    extra = [] if threshold is None else ["--threshold", threshold]
    assert run_cli("compare", baseline, b, *extra).returncode == status


@pytest.mark.parametrize("scale, status", [(1.1, 1), (0.9, 0)])
def test_milliseconds_regress_upwards(tmp_path, baseline, scale, status):
    b = candidate(tmp_path, changed(FULL_SUMMARY, "attention_ms", scale=scale, rows={2}))
    result = run_cli("compare", baseline, b, "--metric", "attention_ms")
    assert result.returncode == status, result.stdout
    assert cells([l for l in result.stdout.splitlines() if l.startswith("|")][0])[-2:] == ["attention_ms B/A", "regressed"]
    assert "attention_ms (lower is better)" in result.stdout


def test_metrics_repeat_and_split_on_commas(tmp_path, baseline):
    result = run_cli("compare", baseline, baseline, "--metric", "fill_GBps,weights_ms", "--metric", "kv_cache_bytes")
    assert result.returncode == 0, result.stderr
    head = cells(result.stdout.splitlines()[3])
    assert [h for h in head if h.endswith("B/A")] == ["fill_GBps B/A", "weights_ms B/A", "kv_cache_bytes B/A"]


def test_defaults_skip_metrics_one_file_lacks(tmp_path, kvsim_file):
    result = run_cli("compare", kvsim_file, kvsim_file)
    assert result.returncode == 0, result.stderr
    head = cells(result.stdout.splitlines()[3])
    assert [h for h in head if h.endswith("B/A")] == ["fill_GBps B/A", "retrieve_GBps B/A"]


def test_no_matching_points_exits_2(tmp_path, baseline):
    b = candidate(tmp_path, changed(FULL_SUMMARY, "positions", scale=2))
    assert_one_line_error(run_cli("compare", baseline, b), "no matching points", str(baseline), "positions")


def test_unknown_metric_exits_2(tmp_path, baseline):
    assert_one_line_error(run_cli("compare", baseline, baseline, "--metric", "bogus"), "unknown metric 'bogus'")
    assert_one_line_error(run_cli("compare", baseline, baseline, "--metric", "dtype"), "'dtype'", "not a metric")
    assert_one_line_error(run_cli("compare", baseline, baseline, "--metric", "positions"), "'positions'", "not a metric")


def test_unreadable_file_exits_2(tmp_path, baseline):
    missing = tmp_path / "nope.h5"
    assert_one_line_error(run_cli("compare", baseline, missing), str(missing), "no such file")


def test_negative_threshold_exits_2(baseline):
    assert_one_line_error(run_cli("compare", baseline, baseline, "--threshold", "-0.1"), "--threshold")


def test_incomplete_file_needs_the_flag(tmp_path, baseline):
    running = write_full(tmp_path / "running.h5", complete=0)
    assert_one_line_error(run_cli("compare", baseline, running), "incomplete", str(running))
    result = run_cli("compare", baseline, running, "--allow-incomplete")
    assert result.returncode == 0, result.stderr
    assert f"note: {running} is incomplete" in result.stdout


def test_ratios_are_b_over_a_per_matched_point(tmp_path, baseline):
    b = write_full(tmp_path / "b.h5", changed(FULL_SUMMARY, "fill_GBps", scale=1.25))
    result = compare_frames(load_summary(baseline), load_summary(b), ["fill_GBps"], 0.05)
    a_values, b_values = column(FULL_SUMMARY, "fill_GBps"), [v * 1.25 for v in column(FULL_SUMMARY, "fill_GBps")]
    assert result.table["fill_GBps B/A"].tolist() == [bv / av for av, bv in zip(a_values, b_values)]
    assert result.regressions == []


def test_unmatched_points_are_noted(tmp_path, baseline):
    few = {name: (values[:4], dtype, units) for name, (values, dtype, units) in FULL_SUMMARY.items()}
    result = compare_frames(load_summary(baseline), load_summary(write_full(tmp_path / "few.h5", few)))
    assert len(result.table) == 4
    assert result.notes == ["2 point(s) of A have no match in B"]


def test_repeated_configurations_pair_in_sweep_order(tmp_path):
    # One context length: points 0-2 share a configuration, and so do 3-5. Pairing all
    # duplicates with each other would give 18 rows.
    same = changed(changed(FULL_SUMMARY, "positions", [4096] * 6), "max_positions", [4096] * 6)
    path = write_full(tmp_path / "repeats.h5", same)
    result = compare_frames(load_summary(path), load_summary(path))
    assert result.table[["A point", "B point"]].values.tolist() == [[i, i] for i in range(6)]
