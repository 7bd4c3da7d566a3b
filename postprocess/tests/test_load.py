import os

import numpy as np
import pytest

from kvsim_post import KvsimFileError, filecheck, load_meta, load_point, load_summary
from make_files import FULL_SUMMARY, POINTS, ROOT, SUMMARY, write_full


def test_summary_round_trips_every_value(kvsim_file):
    df = load_summary(kvsim_file)
    assert list(df.columns) == list(SUMMARY)
    assert len(df) == 2
    for name, (values, dtype, _units) in SUMMARY.items():
        if dtype is np.int64 or dtype is np.uint64 or dtype is np.float64:
            assert df[name].dtype == dtype, name
            np.testing.assert_array_equal(df[name].to_numpy(), np.array(values, dtype=dtype), err_msg=name)
        else:
            assert df[name].tolist() == values, name
            assert all(type(v) is str for v in df[name]), name


def test_uint64_checksum_keeps_all_bits(kvsim_file):
    df = load_summary(kvsim_file)
    assert int(df["checksum"].iloc[0]) == 0xD1B54A32D192ED03


def test_units_and_meta_attached(kvsim_file):
    df = load_summary(kvsim_file)
    assert df.attrs["units"] == {name: units for name, (_v, _d, units) in SUMMARY.items()}
    meta = df.attrs["meta"]
    assert list(meta) == list(ROOT)
    assert meta["config_file"] == "/home/jörg/configs/llama-8b.yaml"
    assert meta["config"] == ROOT["config"]
    assert meta["kvsim_schema"] == 1 and type(meta["kvsim_schema"]) is int
    assert meta["copy_GBps"] == 2876.5432109


def test_load_meta_matches_root_attributes(kvsim_file):
    meta = load_meta(kvsim_file)
    assert meta == {k: (v.item() if hasattr(v, "item") else v) for k, v in ROOT.items()}


def test_load_point_returns_repetition_arrays(kvsim_file):
    for n, arrays in POINTS.items():
        got = load_point(kvsim_file, n)
        assert sorted(got) == sorted(arrays)
        for name, values in arrays.items():
            np.testing.assert_array_equal(got[name], np.array(values))


def test_load_point_unknown_index(kvsim_file):
    with pytest.raises(KvsimFileError, match=r"no point 7"):
        load_point(kvsim_file, 7)


def test_bad_files_raise_one_line_error(bad_file):
    path, word = bad_file
    with pytest.raises(KvsimFileError) as info:
        load_summary(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert word in message


def test_unreadable_file(kvsim_file, monkeypatch):
    # Root ignores file modes, so simulate the EACCES a normal user would get.
    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(filecheck, "open", denied, raising=False)
    with pytest.raises(KvsimFileError, match=r"cannot read file \(Permission denied\)") as info:
        load_summary(kvsim_file)
    assert str(kvsim_file) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_by_mode(kvsim_file):
    kvsim_file.chmod(0)
    with pytest.raises(KvsimFileError, match="cannot read file"):
        load_summary(kvsim_file)


def test_incomplete_file_refused_by_default_with_a_hint(tmp_path):
    path = write_full(tmp_path / "running.h5", complete=0)
    with pytest.raises(KvsimFileError) as info:
        load_summary(path)
    message = str(info.value)
    assert "\n" not in message
    assert "incomplete kvsim file (complete = 0, expected 1)" in message and "--allow-incomplete" in message


def test_incomplete_file_read_with_allow_incomplete(tmp_path):
    path = write_full(tmp_path / "running.h5", complete=0)
    df = load_summary(path, allow_incomplete=True)
    assert df.attrs["meta"]["complete"] == 0
    assert df["retrieve_GBps"].tolist() == FULL_SUMMARY["retrieve_GBps"][0]


def test_incomplete_file_without_finished_points(tmp_path):
    empty = {name: ([], dtype, units) for name, (_values, dtype, units) in FULL_SUMMARY.items()}
    path = write_full(tmp_path / "started.h5", empty, complete=0)
    df = load_summary(path, allow_incomplete=True)
    assert len(df) == 0 and "fill_GBps" in df.columns
    no_columns = write_full(tmp_path / "nothing.h5", {}, complete=0)
    with pytest.raises(KvsimFileError, match="no finished points yet"):
        load_summary(no_columns, allow_incomplete=True)


def test_allow_incomplete_still_refuses_other_complete_values(tmp_path):
    path = write_full(tmp_path / "odd.h5", complete=7)
    with pytest.raises(KvsimFileError, match=r"complete = 7"):
        load_summary(path, allow_incomplete=True)
