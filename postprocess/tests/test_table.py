import math

import pandas as pd
import pytest

from kvsim_post import load_summary, markdown_table
from kvsim_post.table import format_number


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
    assert rows[0]["kv_cache_bytes [bytes]"] == "2,147,483,648"
    assert rows[0]["checksum"] == str(0xD1B54A32D192ED03)
    assert rows[1]["layout"] == "contiguous"


def test_numbers_right_aligned_text_left_aligned():
    df = pd.DataFrame({"name": ["a", "bbbbbb"], "n": [5, 123456]})
    lines = markdown_table(df, units={"n": "bytes"}).splitlines()
    assert lines[0] == "| name   | n [bytes] |"
    assert lines[1] == "| ------ | --------: |"
    assert lines[2] == "| a      |         5 |"
    assert lines[3] == "| bbbbbb |   123,456 |"


def test_pipe_in_text_is_escaped():
    df = pd.DataFrame({"label": ["a|b"]})
    assert markdown_table(df).splitlines()[2] == "| a\\|b  |"
