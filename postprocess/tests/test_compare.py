"""`kvsim-post compare`: pairing by configuration, refusing different experiments, and the
verdict (exit 1 only on a significant regression past the threshold)."""

import numpy as np
import pytest

from cli_helpers import assert_one_line_error, cells, run_cli
from kvsim_post import load_summary, pairing
from kvsim_post.compare import compare_frames
from make_files import FULL_SUMMARY, V2_ROOT, changed, column, v2_edited, write_full, write_v2


def table_rows(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    head = cells(lines[0])
    return [dict(zip(head, cells(line))) for line in lines[2:]]


def lines_starting(stdout, prefix):
    return [line for line in stdout.splitlines() if line.startswith(prefix)]


def twice(tmp_path, b_kwargs, a_kwargs=None):
    """A baseline and a candidate run of the same sweep (seeds 1 and 2: other noise draws)."""
    a = write_v2(tmp_path / "a.h5", seed=1, **(a_kwargs or {}))
    b = write_v2(tmp_path / "b.h5", **dict({"seed": 2}, **b_kwargs))
    return a, b


def test_same_config_run_twice_exits_0(tmp_path):
    a, b = twice(tmp_path, {"root": dict(V2_ROOT, config_hash="77aa00ff11223344", copy_GBps=V2_ROOT["copy_GBps"] * 1.03)})
    result = run_cli("compare", a, b)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table_rows(result.stdout)
    assert len(rows) == 6 and all(row["regressed"] == "" for row in rows)
    # The noise alone moves some medians past the 5% threshold: a threshold-only verdict fails here.
    ratios = [float(row[f"{m} B/A"]) for row in rows for m in ("fill_GBps", "retrieve_GBps", "tokens_per_s")]
    assert max(abs(r - 1) for r in ratios) > 0.05
    assert "0 regression(s)" in result.stdout
    assert lines_starting(result.stdout, "not a regression: ")  # listed, with their p
    assert "note: config_hash differs" in result.stdout


def test_twenty_percent_slower_exits_1(tmp_path):
    a, b = twice(tmp_path, {"slowdown": 1.2})
    result = run_cli("compare", a, b)
    assert result.returncode == 1, result.stdout
    regressions = lines_starting(result.stdout, "REGRESSION: ")
    assert len(regressions) >= 15, result.stdout  # 6 points x 3 metrics, nearly all shown
    assert all(", p=" in line and "n=7/7" in line for line in regressions)
    assert "fill_GBps" in table_rows(result.stdout)[0]["regressed"]


def test_too_few_repetitions_is_not_a_regression(tmp_path):
    a, b = twice(tmp_path, {"slowdown": 1.3, "repetitions": 2}, {"repetitions": 2})
    result = run_cli("compare", a, b)
    assert result.returncode == 0, result.stdout
    quiet = lines_starting(result.stdout, "not a regression: ")
    assert quiet and all("n=2/2: too few repetitions to decide" in line for line in quiet)


def test_one_phase_slower_in_one_point(tmp_path):
    a, b = twice(tmp_path, {"slowdown": 1.25, "slow_rows": {2}, "slow_series": {"attention_seconds"}, "noise": 0.02},
                 {"noise": 0.02})
    result = run_cli("compare", a, b, "--metric", "attention_ms,fill_GBps")
    assert result.returncode == 1, result.stdout
    rows = table_rows(result.stdout)
    assert [row["regressed"] for row in rows] == ["", "", "attention_ms", "", "", ""]
    assert "attention_ms (lower is better)" in result.stdout


@pytest.mark.parametrize("threshold, status", [("0.15", 0), ("0.05", 1)])
def test_threshold_decides(tmp_path, threshold, status):
    a, b = twice(tmp_path, {"slowdown": 1.1, "noise": 0.01}, {"noise": 0.01})
    assert run_cli("compare", a, b, "--threshold", threshold).returncode == status


def test_untimed_metric_regresses_on_the_threshold(tmp_path):
    summary = changed(FULL_SUMMARY, "kv_cache_bytes", scale=1.1, rows={1})
    a, b = twice(tmp_path, {"summary": summary})
    result = run_cli("compare", a, b, "--metric", "kv_cache_bytes")
    assert result.returncode == 1, result.stdout
    assert "kv_cache_bytes" in lines_starting(result.stdout, "REGRESSION: A point 1 / B point 1")[0]


def chunks(values):
    return dict(changed(FULL_SUMMARY, "fill_mode", ["chunk"] * 6), chunk=(values, np.int64, "positions"))


def test_chunk_of_1_is_not_paired_with_chunk_of_256(tmp_path):
    a = write_v2(tmp_path / "a.h5", seed=1, summary=chunks([256] * 6))
    slow = changed(chunks([256, 256, 256, 1, 1, 1]), "fill_GBps", scale=0.039, rows={3, 4, 5})
    b = write_v2(tmp_path / "b.h5", seed=2, summary=slow)
    assert_one_line_error(run_cli("compare", a, b), "not the same experiment", "different point sets",
                          "3 point(s)", "--allow-different")
    result = run_cli("compare", a, b, "--allow-different")
    assert result.returncode == 0, result.stdout
    assert [(row["A point"], row["B point"]) for row in table_rows(result.stdout)] == [("0", "0"), ("1", "1"), ("2", "2")]
    assert lines_starting(result.stdout, "unpaired: ") == [
        f"unpaired: {a} point {i} has no partner in {b}" for i in (3, 4, 5)] + [
        f"unpaired: {b} point {i} has no partner in {a}" for i in (3, 4, 5)]
    assert "REGRESSION" not in result.stdout and "0.039" not in result.stdout


def test_different_experiments_are_refused(tmp_path):
    a, b = twice(tmp_path, {"name": "other_sweep"})
    assert_one_line_error(run_cli("compare", a, b), "different experiment names ('decode_sweep' vs 'other_sweep')")
    result = run_cli("compare", a, b, "--allow-different")
    assert result.returncode == 0, result.stdout
    assert "note: DIFFERENT: different experiment names" in result.stdout


@pytest.mark.parametrize("root, words", [
    (dict(V2_ROOT, copy_GBps=V2_ROOT["copy_GBps"] * 1.15), "different ceilings (copy_GBps"),
    (dict(V2_ROOT, read_GBps=V2_ROOT["read_GBps"] * 0.8), "different ceilings (read_GBps"),
    (dict(V2_ROOT, device="NVIDIA H200"), "different devices"),
])
def test_different_ceilings_or_devices_are_flagged(tmp_path, root, words):
    a, b = twice(tmp_path, {"root": root})
    assert_one_line_error(run_cli("compare", a, b), words)
    result = run_cli("compare", a, b, "--allow-different")
    assert result.returncode == 0 and f"note: DIFFERENT: {words}" in result.stdout, result.stdout


def test_schema1_file_compared_with_itself_exits_0(kvsim_file):
    result = run_cli("compare", kvsim_file, kvsim_file)
    assert result.returncode == 0, result.stderr
    head = cells(result.stdout.splitlines()[3])
    assert [h for h in head if h.endswith("B/A")] == ["fill_GBps B/A", "retrieve_GBps B/A"]


def test_metrics_repeat_and_split_on_commas(tmp_path):
    a = write_v2(tmp_path / "a.h5")
    result = run_cli("compare", a, a, "--metric", "fill_GBps,weights_ms", "--metric", "kv_cache_bytes")
    assert result.returncode == 0, result.stderr
    head = cells(result.stdout.splitlines()[3])
    assert [h for h in head if h.endswith("B/A")] == ["fill_GBps B/A", "weights_ms B/A", "kv_cache_bytes B/A"]


def test_unknown_metric_exits_2(tmp_path):
    a = write_v2(tmp_path / "a.h5")
    assert_one_line_error(run_cli("compare", a, a, "--metric", "bogus"), "unknown metric 'bogus'")
    assert_one_line_error(run_cli("compare", a, a, "--metric", "dtype"), "'dtype'", "not a metric")
    assert_one_line_error(run_cli("compare", a, a, "--metric", "positions"), "'positions'", "not a metric")


def test_unreadable_file_exits_2(tmp_path, kvsim_file):
    missing = tmp_path / "nope.h5"
    assert_one_line_error(run_cli("compare", kvsim_file, missing), str(missing), "no such file")


def test_negative_threshold_exits_2(kvsim_file):
    assert_one_line_error(run_cli("compare", kvsim_file, kvsim_file, "--threshold", "-0.1"), "--threshold")


def test_incomplete_file_needs_the_flag(tmp_path):
    baseline = write_full(tmp_path / "a.h5")
    running = write_full(tmp_path / "running.h5", complete=0)
    assert_one_line_error(run_cli("compare", baseline, running), "incomplete", str(running))
    result = run_cli("compare", baseline, running, "--allow-incomplete")
    assert result.returncode == 0, result.stderr
    assert f"note: {running} is incomplete" in result.stdout


def test_ratios_are_b_over_a_per_paired_point(tmp_path):
    a = write_full(tmp_path / "a.h5")
    b = write_full(tmp_path / "b.h5", changed(FULL_SUMMARY, "fill_GBps", scale=1.25))
    result = compare_frames(load_summary(a), load_summary(b), ["fill_GBps"], 0.05)
    a_values, b_values = column(FULL_SUMMARY, "fill_GBps"), [v * 1.25 for v in column(FULL_SUMMARY, "fill_GBps")]
    assert result.table["fill_GBps B/A"].tolist() == [bv / av for av, bv in zip(a_values, b_values)]
    assert result.regressions == []


def test_fewer_points_are_listed_when_allowed(tmp_path):
    few = {name: (values[:4], dtype, units) for name, (values, dtype, units) in FULL_SUMMARY.items()}
    a = load_summary(write_full(tmp_path / "a.h5"))
    b = load_summary(write_full(tmp_path / "few.h5", few))
    result = compare_frames(a, b, allow_different=True)
    assert len(result.table) == 4
    assert result.unpaired == ["A point 4 has no partner in B", "A point 5 has no partner in B"]


def test_repeated_configurations_pair_in_sweep_order(tmp_path):
    # One context length: points 0-2 share a configuration, and so do 3-5. Pairing all
    # duplicates with each other would give 18 rows.
    same = changed(changed(FULL_SUMMARY, "positions", [4096] * 6), "max_positions", [4096] * 6)
    path = write_full(tmp_path / "repeats.h5", same)
    result = compare_frames(load_summary(path), load_summary(path))
    assert result.table[["A point", "B point"]].values.tolist() == [[i, i] for i in range(6)]


def test_canonical_config_drops_name_output_and_run_only(monkeypatch):
    a = "name: x\nseed: 1\nworkload:\n  retrieve:\n    output: fp32\nrun:\n  repetitions: 5\noutput: a.h5\n"
    b = "name: y\nseed: 1\nworkload:\n  retrieve:\n    output: fp32\nrun:\n  repetitions: 9\noutput: b.h5\n"
    c = b.replace("output: fp32", "output: fp16")
    for parser in (pairing.yaml, None):  # with PyYAML, and the text fallback without it
        monkeypatch.setattr(pairing, "yaml", parser)
        assert pairing.canonical(a) == pairing.canonical(b)
        assert pairing.canonical(b) != pairing.canonical(c)


def test_better_attribute_wins_over_the_suffix_rule(tmp_path):
    # kv_cache_bytes is "lower is better" by its suffix; a file that says "higher" is believed.
    def say_higher(f):
        f["summary/kv_cache_bytes"].attrs["better"] = "higher"

    bigger = changed(FULL_SUMMARY, "kv_cache_bytes", scale=1.1, rows={1})
    a = v2_edited(tmp_path / "a.h5", say_higher, seed=1)
    b = v2_edited(tmp_path / "b.h5", say_higher, seed=2, summary=bigger)
    result = run_cli("compare", a, b, "--metric", "kv_cache_bytes")
    assert result.returncode == 0, result.stdout
    assert "kv_cache_bytes (higher is better)" in result.stdout
    smaller = changed(FULL_SUMMARY, "kv_cache_bytes", scale=0.9, rows={1})
    c = v2_edited(tmp_path / "c.h5", say_higher, seed=2, summary=smaller)
    assert run_cli("compare", a, c, "--metric", "kv_cache_bytes").returncode == 1
