"""The bad-input catalogue: every file under tests/configs/bad is refused by `kvsim validate` and
`kvsim run` with exit code 2, one line naming the file (and line, where the problem has one)
and the key, and no result file."""
import pathlib

import pytest

BAD_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs" / "bad"

# file -> (location the message starts with, text it names)
CATALOGUE = {
    "bad_name.yaml": ("bad_name.yaml:1:", "name"),
    "binary_garbage.yaml": ("binary_garbage.yaml:", "NUL bytes"),
    "bool_wrong.yaml": ("bool_wrong.yaml:6:", "workload.retrieve.verify"),
    "data_key_for_uniform.yaml": ("data_key_for_uniform.yaml:6:", "data.outlier_scale"),
    "data_kind_unknown.yaml": ("data_kind_unknown.yaml:5:", "data.kind"),
    "data_outlier_channels_odd.yaml": ("data_outlier_channels_odd.yaml:6:", "data.outlier_channels"),
    "decode_lengths_h2o.yaml": ("decode_lengths_h2o.yaml:6:", "workload.lengths"),
    "decode_pool_too_small.yaml": ("decode_pool_too_small.yaml:3:", "cache.pool_pages"),
    "decode_kernel_unknown.yaml": ("decode_kernel_unknown.yaml:6:", "workload.decode.kernel"),
    "duplicate_key.yaml": ("duplicate_key.yaml:7:", "cache.max_positions"),
    "empty.yaml": ("empty.yaml:", "empty config"),
    "float_for_int.yaml": ("float_for_int.yaml:4:", "cache.max_positions"),
    "h2o_chunk.yaml": ("h2o_chunk.yaml:6:", "workload.fill.mode"),
    "head_dim_int4.yaml": ("head_dim_int4.yaml:5:", "cache.dtype"),
    "kv_heads_gt_heads.yaml": ("kv_heads_gt_heads.yaml:3:", "model.kv_heads"),
    "kv_heads_not_dividing.yaml": ("kv_heads_not_dividing.yaml:3:", "model.kv_heads"),
    "lengths_and_positions.yaml": ("lengths_and_positions.yaml:6:", "workload.lengths"),
    "lengths_count_mismatch.yaml": ("lengths_count_mismatch.yaml:6:", "workload.lengths"),
    "missing_cache.yaml": ("missing_cache.yaml:1:", "cache"),
    "negative_length.yaml": ("negative_length.yaml:6:", "workload.lengths[1]"),
    "negative_size.yaml": ("negative_size.yaml:5:", "cache.max_positions"),
    "not_a_mapping.yaml": ("not_a_mapping.yaml:1:", "mapping"),
    "overflow.yaml": ("overflow.yaml:2:", "seed"),
    "page_size_not_pow2.yaml": ("page_size_not_pow2.yaml:7:", "cache.page_size"),
    "page_size_without_paged.yaml": ("page_size_without_paged.yaml:6:", "cache.page_size"),
    "page_size_zero.yaml": ("page_size_zero.yaml:7:", "cache.page_size"),
    "pool_too_small.yaml": ("pool_too_small.yaml:3:", "cache.pool_pages"),
    "quoted_number.yaml": ("quoted_number.yaml:8:", "run.repetitions"),
    "sinks_ge_window.yaml": ("sinks_ge_window.yaml:7:", "cache.sinks"),
    "shards_with_window.yaml": ("shards_with_window.yaml:7:", "parallel.context_shards"),
    "shards_cache_too_small.yaml": ("shards_cache_too_small.yaml:8:", "parallel.context_shards"),
    "prefill_chunk_too_long.yaml": ("prefill_chunk_too_long.yaml:7:", "workload.prefill.chunk"),
    "verify_without_retrieve.yaml": ("verify_without_retrieve.yaml:8:", "workload.retrieve.verify"),
    "sweep_parallel.yaml": ("sweep_parallel.yaml:5:", "sweep.parallel.context_shards"),
    "stray_comma.yaml": ("stray_comma.yaml:3:", "YAML syntax error: unexpected ','"),
    "sweep_bad_value.yaml": ("sweep_bad_value.yaml:7:", "sweep.cache.dtype[1]"),
    "sweep_empty_list.yaml": ("sweep_empty_list.yaml:5:", "sweep.cache.dtype"),
    "sweep_unknown_key.yaml": ("sweep_unknown_key.yaml:5:", "cache.dtyp"),
    "sweep_too_many_points.yaml": ("sweep_too_many_points.yaml:6:", "sweep: expands to more than 1000 points"),
    "tabs.yaml": ("tabs.yaml:3:", "YAML syntax error"),
    "two_documents.yaml": ("two_documents.yaml:", "one YAML document"),
    "typo_key.yaml": ("typo_key.yaml:5:", "cache.max_positon"),
    "unknown_preset.yaml": ("unknown_preset.yaml:3:", "model.preset"),
    "unsupported_dtype.yaml": ("unsupported_dtype.yaml:6:", "cache.dtype"),
    "window_too_big.yaml": ("window_too_big.yaml:7:", "cache.window"),
    "wrong_type.yaml": ("wrong_type.yaml:5:", "cache.max_positions"),
    "yaml_syntax.yaml": ("yaml_syntax.yaml:6:", "YAML syntax error"),
    "zero_repetitions.yaml": ("zero_repetitions.yaml:5:", "run.repetitions"),
    "zip_lengths.yaml": ("zip_lengths.yaml:6:", "zip.workload.fill.positions"),
}


def test_the_catalogue_covers_every_bad_file():
    assert sorted(p.name for p in BAD_DIR.glob("*.yaml")) == sorted(CATALOGUE)
    assert len(CATALOGUE) >= 30


def error_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("kvsim: error:")]
    assert len(lines) == 1, stderr
    return lines[0][len("kvsim: error: "):]


@pytest.mark.parametrize("name", sorted(CATALOGUE))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_config_is_refused_cleanly(run_kvsim, tmp_path, name, command):
    where, what = CATALOGUE[name]
    args = [command, BAD_DIR / name] + (["-o", tmp_path / "out.h5"] if command == "run" else [])
    p = run_kvsim(*args)
    assert p.returncode == 2, p.stderr
    line = error_line(p.stderr)
    assert line.startswith(str(BAD_DIR / where)), line
    assert what in line, line
    assert list(tmp_path.iterdir()) == [], "a refused config must leave no result file"


@pytest.mark.parametrize("target", ["missing.yaml", "."])
def test_missing_file_and_directory(run_kvsim, tmp_path, target):
    path = tmp_path / target if target != "." else tmp_path
    p = run_kvsim("validate", path)
    assert p.returncode == 2
    assert error_line(p.stderr).startswith(str(path))
