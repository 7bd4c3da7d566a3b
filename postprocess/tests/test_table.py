import math

import numpy as np
import pandas as pd
import pytest

from kvsim_post import load_summary, markdown_table
from cli_helpers import run_cli
from kvsim_post.table import format_number
from make_files import V2_ROOT, v2_run, write_v2


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.mark.parametrize("value, text", [
    (2147483648, "2,147,483,648"),
    (7, "7"),
    (612.3456789, "612.3"),
    (0.0123456, "0.01235"),
    (2335912.734, "2,335,913"),
    (1234.5, "1,234"),
    (0.0, "0"),
    (math.nan, ""),
    (math.inf, "inf"),
])
def test_format_number(value, text):
    assert format_number(value) == text


def test_table_headers_units_and_alignment(kvsim_file):
    lines = markdown_table(load_summary(kvsim_file)).splitlines()
    head = cells(lines[0])
    assert head[:3] == ["point", "positions [positions]", "max_positions [positions]"]
    assert "fill_GBps [GB/s]" in head and "dtype" in head and "verified" in head
    rule = cells(lines[1])
    assert rule[head.index("fill_GBps [GB/s]")].endswith(":")
    assert not rule[head.index("dtype")].endswith(":")
    assert len(lines) == 2 + 2


def test_table_rows_hold_formatted_values(kvsim_file):
    lines = markdown_table(load_summary(kvsim_file)).splitlines()
    head = cells(lines[0])
    rows = [dict(zip(head, cells(line))) for line in lines[2:]]
    assert rows[0]["positions [positions]"] == "4,096"
    assert rows[1]["positions [positions]"] == "16,384"
    assert rows[0]["fill_GBps [GB/s]"] == "612.3"
    assert rows[1]["retrieve_fraction_of_copy"] == "0.8487"
    assert rows[0]["kv_cache_bytes"] == "2.147 GB"  # the unit in the cell, not the header
    assert rows[0]["checksum"] == str(0xD1B54A32D192ED03)
    assert rows[1]["layout"] == "contiguous"


def test_numbers_right_aligned_text_left_aligned():
    df = pd.DataFrame({"name": ["a", "bbbbbb"], "n": [5, 123456]})
    lines = markdown_table(df, units={"n": "positions"}).splitlines()
    assert lines[0] == "| name   | n [positions] |"
    assert lines[1] == "| ------ | ------------: |"
    assert lines[2] == "| a      |             5 |"
    assert lines[3] == "| bbbbbb |       123,456 |"


@pytest.mark.parametrize("value, text", [(5, "5 B"), (2400, "2.4 kB"), (123456, "123.5 kB"), (2147483648, "2.147 GB"),
                                         (67108864, "67.11 MB")])
def test_byte_counts_read_in_human_units_in_the_cell(value, text):
    df = pd.DataFrame({"name": ["a"], "cache": [value]})
    lines = markdown_table(df, units={"cache": "bytes"}).splitlines()
    assert cells(lines[0]) == ["name", "cache"]
    assert cells(lines[2]) == ["a", text]
    assert lines[1].endswith(": |")  # still a number: right-aligned


def test_pipe_in_text_is_escaped():
    df = pd.DataFrame({"label": ["a|b"]})
    assert markdown_table(df).splitlines()[2] == "| a\\|b  |"


def table_of(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    head = cells(lines[0])
    return head, [dict(zip(head, cells(line))) for line in lines[2:]]


def test_schema2_table_shows_median_with_the_files_min_and_max(tmp_path):
    path = write_v2(tmp_path / "v2.h5")
    summary = v2_run(output=str(path))[0]
    result = run_cli("table", path)
    assert result.returncode == 0, result.stderr
    head, rows = table_of(result.stdout)
    assert "fill_GBps_min [GB/s]" not in head and "tokens_per_s_max [tokens/s]" not in head  # folded in
    for i, row in enumerate(rows):
        want = [format_number(summary[c][0][i]) for c in ("fill_GBps", "fill_GBps_min", "fill_GBps_max")]
        assert row["fill_GBps [GB/s]"] == f"{want[0]} ({want[1]}–{want[2]})"
    assert result.stderr == ""  # noise 8%: no spread past 1.5


def test_min_and_max_columns_can_be_asked_for(tmp_path):
    path = write_v2(tmp_path / "v2.h5")
    head, _ = table_of(run_cli("table", path, "--columns", "point,fill_GBps_min").stdout)
    assert head == ["point", "fill_GBps_min [GB/s]"]


def test_wide_spread_is_warned_about_once_per_point_and_phase(tmp_path):
    path = write_v2(tmp_path / "noisy.h5", noise=0.5)
    summary = v2_run(noise=0.5)[0]
    result = run_cli("table", path)
    assert result.returncode == 0
    want = sum(1 for phase in ("fill", "retrieve", "decode") for v in summary[f"{phase}_spread"][0] if v > 1.5)
    warnings = [line for line in result.stderr.splitlines() if "repetitions spread" in line]
    assert want > 0 and len(warnings) == want
    assert all(line.startswith(f"kvsim-post: warning: {path}: point ") for line in warnings)


def test_ceiling_exceeded_shows_n_a_and_one_warning_per_point(tmp_path):
    # A copy ceiling below the fp16 points' fill rate: their fill_fraction_of_copy is NaN.
    path = write_v2(tmp_path / "low.h5", root=dict(V2_ROOT, copy_GBps=np.float64(2000.0)), noise=0.0)
    result = run_cli("table", path, "--columns", "point,fill_fraction_of_copy,retrieve_fraction_of_copy")
    assert result.returncode == 0, result.stderr
    _, rows = table_of(result.stdout)
    fill = [row["fill_fraction_of_copy"] for row in rows]
    assert fill[:3] == ["n/a"] * 3 and all(v != "n/a" for v in fill[3:])
    warnings = result.stderr.splitlines()
    assert len(warnings) == 4  # points 0-2 (fill, 1-2 also retrieve) and 5 (retrieve): one line per point
    assert warnings[0].startswith(f"kvsim-post: warning: {path}: point 0: ceiling exceeded (fill_fraction_of_copy=1.051")
    assert "retrieve_fraction_of_copy=1.33" in warnings[2]
