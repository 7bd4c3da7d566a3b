import os
import re
import subprocess
import sys

from cli_helpers import POSTPROCESS, assert_one_line_error, cells, run_cli
from make_files import FULL_SUMMARY, changed, write_full, write_valid


def test_table_prints_summary(kvsim_file):
    result = run_cli("table", kvsim_file, "--columns", "all")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    head = cells(lines[0])
    assert head[0] == "point" and "retrieve_GBps [GB/s]" in head
    row = dict(zip(head, cells(lines[3])))
    assert row["point"] == "1"
    assert row["valid_positions [positions]"] == "8,192"
    # The median with the min–max of the repetitions, computed from a schema-1 file's series.
    assert row["retrieve_GBps [GB/s]"] == "2,441 (2,441–2,442)"
    assert row["policy"] == "ring"


def test_default_table_is_short_and_names_what_varies(full_file):
    result = run_cli("table", full_file)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    head = cells(lines[0])
    # dtype, layout and page_size vary; max_positions equals positions: left out.
    assert head[:5] == ["point", "dtype", "layout", "page_size [positions]", "positions [positions]"]
    assert "max_positions [positions]" not in head and "checksum" not in head and "heads" not in head
    assert "fill_GBps [GB/s]" in head and "tokens_per_s [tokens/s]" in head
    full = run_cli("table", full_file, "--columns", "all").stdout.splitlines()
    assert len(cells(full[0])) > 2 * len(head)
    assert max(map(len, lines)) < 320 and len(lines) == len(full)


def test_default_table_leaves_out_metrics_no_point_measured(tmp_path):
    summary = changed(changed(FULL_SUMMARY, "tokens_per_s", [0.0] * 6), "attention_rel_err", [-1.0] * 6)
    head = cells(run_cli("table", write_full(tmp_path / "nodecode.h5", summary)).stdout.splitlines()[0])
    assert "tokens_per_s [tokens/s]" not in head and "attention_rel_err" not in head
    assert "fill_GBps [GB/s]" in head


def test_table_csv_and_json_hold_the_raw_numbers(kvsim_file):
    import csv
    import io
    import json

    import h5py

    with h5py.File(kvsim_file, "r") as f:
        fill = list(f["summary/fill_GBps"][:])
        positions = list(f["summary/positions"][:])
    result = run_cli("table", kvsim_file, "--format", "csv", "--columns", "point,positions,fill_GBps")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["positions"]) for r in rows] == positions
    assert [float(r["fill_GBps"]) for r in rows] == fill  # not rounded to 4 digits
    assert float(rows[0]["fill_GBps_min"]) <= fill[0] <= float(rows[0]["fill_GBps_max"])
    result = run_cli("table", kvsim_file, "--format", "json")
    records = json.loads(result.stdout)
    assert [r["fill_GBps"] for r in records] == fill and records[0]["dtype"] == "fp32"
    assert result.stdout.count("\n") == 1
    assert run_cli("table", kvsim_file, "--format", "xml").returncode == 2


def test_version(capsys):
    from kvsim_post import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"kvsim-post {__version__}"


def test_table_selected_columns(kvsim_file):
    result = run_cli("table", kvsim_file, "--columns", "point,fill_GBps,dtype")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert cells(lines[0]) == ["point", "fill_GBps [GB/s]", "dtype"]
    # fill_seconds 0.0017535 (median), 0.0017541 (slowest), 0.0017529 (fastest): the GB/s scale with 1/s.
    assert cells(lines[2]) == ["0", "612.3 (612.1–612.6)", "fp32"]
    assert cells(lines[3]) == ["1", "631.8 (631.7–631.8)", "fp32"]


def test_table_several_files_adds_file_column(kvsim_file, tmp_path):
    second = write_valid(tmp_path / "second.h5")
    result = run_cli("table", kvsim_file, second, "--columns", "point,positions")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert cells(lines[0]) == ["file", "point", "positions [positions]"]
    assert [cells(line) for line in lines[2:]] == [
        [str(kvsim_file), "0", "4,096"],
        [str(kvsim_file), "1", "16,384"],
        [str(second), "0", "4,096"],
        [str(second), "1", "16,384"],
    ]


def test_info_prints_root_attributes(kvsim_file):
    result = run_cli("info", kvsim_file)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "kvsim_schema: 1"
    assert "kvsim_version: 0.1.0" in lines
    assert "backend: Cuda" in lines
    assert "copy_GBps: 2876.5432109" in lines
    assert "config_file: /home/jörg/configs/llama-8b.yaml" in lines
    config = lines.index("config:")
    assert lines[config + 1:config + 3] == ["  model:", "    layers: 32"]


def test_wrapper_finds_a_python_with_h5py_and_pandas(kvsim_file, tmp_path):
    # The python3 first on PATH lacks them (as a pyenv one may): the wrapper must pass it over.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\nexec %s -S \"$@\"\n" % sys.executable)
    (fake / "python3").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    env.pop("KVSIM_PYTHON", None)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(POSTPROCESS / "kvsim-post"), "table", str(kvsim_file), "--columns", "point"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    debian = subprocess.run(["/usr/bin/python3", "-c", "import h5py, pandas"], capture_output=True) \
        if os.access("/usr/bin/python3", os.X_OK) else None
    if debian is None or debian.returncode != 0:
        assert_one_line_error(result, "lacks the '")  # no Python has them: named in one line
        return
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "| point |"


def test_wrapper_script_runs_from_elsewhere(kvsim_file, tmp_path):
    env = dict(os.environ, KVSIM_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(POSTPROCESS / "kvsim-post"), "table", str(kvsim_file), "--columns", "point"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["| point |", "| ----: |", "|     0 |", "|     1 |"]


def test_bad_file_exits_2_with_one_line(bad_file):
    path, word = bad_file
    assert_one_line_error(run_cli("table", path), str(path), word)


def test_bad_file_in_info_exits_2(bad_file):
    path, word = bad_file
    assert_one_line_error(run_cli("info", path), str(path), word)


def test_bad_second_file_is_named(kvsim_file, tmp_path):
    missing = tmp_path / "nope.h5"
    assert_one_line_error(run_cli("table", kvsim_file, missing), str(missing), "no such file")


def test_unknown_column_exits_2(kvsim_file):
    assert_one_line_error(run_cli("table", kvsim_file, "--columns", "point,bogus"),
                          "unknown column 'bogus'", str(kvsim_file), "fill_GBps")


def test_usage_errors_exit_2(kvsim_file):
    for args in [(), ("frobnicate",), ("table",), ("info", kvsim_file, "extra")]:
        result = run_cli(*args)
        assert result.returncode == 2, args
        # argparse names the subcommand in its prog, e.g. "kvsim-post table: error:"
        assert re.search(r"^kvsim-post( \w+)?: error: ", result.stderr, re.M), args


def test_python_without_dependencies_gets_one_line(kvsim_file):
    # -S drops site-packages, where h5py/pandas live.
    env = dict(os.environ, PYTHONPATH=str(POSTPROCESS))
    result = subprocess.run([sys.executable, "-S", "-m", "kvsim_post", "table", str(kvsim_file)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert_one_line_error(result, "lacks the '", "KVSIM_PYTHON")


def test_table_and_info_read_incomplete_files_only_when_asked(tmp_path):
    path = write_full(tmp_path / "running.h5", complete=0)
    for command in ("table", "info"):
        assert_one_line_error(run_cli(command, path), "incomplete")
        result = run_cli(command, path, "--allow-incomplete")
        assert result.returncode == 0, result.stderr
    assert "complete: 0" in result.stdout.splitlines()
