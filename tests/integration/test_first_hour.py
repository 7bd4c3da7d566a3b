"""Issue #19: what a new user sees in a terminal. The progress line through a pseudo-terminal,
points numbered from 1, -q/-v, --format json, Kokkos' OMP_PROC_BIND warning, --help's
ENVIRONMENT and EXIT STATUS, Kokkos Tools (Kokkos 4's flag spelling, the kvsim::decode
region), --set KEY=null, and what validate says it did not check."""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import time

import h5py
import pytest

SMALL = "tests/configs/good/small_wrap.yaml"
TINY = ["--set", "run.repetitions=1", "--set", "run.warmup=0"]
SWEEP = ["--set", "model.head_dim=32", "--set", "sweep={cache.dtype: [fp32, fp16, int8]}"]
DECODE = ["--set", "model.head_dim=32", "--set", "workload.decode.tokens=2"]
# Kokkos' warning is what is tested: OMP_PROC_BIND and OMP_PLACES stay unset.
ENV = {k: v for k, v in os.environ.items() if k not in ("OMP_PROC_BIND", "OMP_PLACES")}
ENV["OMP_NUM_THREADS"] = "2"


def run(kvsim_bin, *args, env=None, cwd=None):
    return subprocess.run([kvsim_bin, *map(str, args)], env=env or ENV, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def run_in_terminal(kvsim_bin, *args, cwd=None):
    """stdout and stderr on one pseudo-terminal, as a user's shell has them: the raw bytes."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([kvsim_bin, *map(str, args)], stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                            env=ENV, cwd=cwd)
    os.close(slave)
    chunks = []
    deadline = time.time() + 300
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.wait(timeout=60)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def screen(raw):
    """The lines a terminal shows for raw: \\r returns to column 0, ESC[K erases to the end of
    the line, other characters overwrite."""
    lines, line, col = [], [], 0
    i = 0
    while i < len(raw):
        ch = raw[i]
        if raw.startswith("\x1b[K", i):
            del line[col:]
            i += 3
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line))
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        i += 1
    return lines + (["".join(line)] if line else [])


def test_progress_is_cleared_before_results_in_a_terminal(kvsim_bin, source_dir, tmp_path):
    rc, raw = run_in_terminal(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "t.h5", *TINY, *SWEEP)
    assert rc == 0, raw
    assert "\x1b[K[0/3 done] point 1/3" in raw  # the live line was drawn
    shown = screen(raw)
    results = [line for line in shown if re.match(r"point \d+: ", line)]
    assert [r.split(":")[0] for r in results] == ["point 1", "point 2", "point 3"], shown
    # Nothing of the live line is left on the screen: not beside a result, not at the end.
    assert not [line for line in shown if "ETA" in line or "done]" in line], shown
    assert shown[-1] == f"wrote {tmp_path / 't.h5'}"


def test_the_live_line_names_the_phase_inside_a_point(kvsim_bin, source_dir, tmp_path):
    rc, raw = run_in_terminal(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "t.h5", "--set", "run.warmup=1",
                              "--set", "run.repetitions=2", *DECODE)
    assert rc == 0, raw
    drawn = re.findall(r"\x1b\[K\[0/1 done\] point 1/1[^\r\n\x1b]*? \u00b7 ([^\r\n\x1b]+?)  ETA", raw)
    assert drawn == ["fill 1/3 (warm-up)", "decode 1/3 (warm-up)", "fill 2/3", "decode 2/3", "fill 3/3", "decode 3/3",
                     "retrieve", "verify", "quality reference"], raw
    shown = screen(raw)
    assert not [line for line in shown if "done]" in line or "\u00b7" in line], shown  # cleared before the results
    # A log (no terminal) gets the point's start and finish only.
    p = run(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "log.h5", *DECODE)
    assert p.returncode == 0 and "\u00b7" not in p.stderr and "decode 1/" not in p.stderr, p.stderr


def test_points_are_numbered_from_1_on_stdout_and_stderr(kvsim_bin, source_dir, tmp_path):
    p = run(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "t.h5", *TINY, *SWEEP)
    assert p.returncode == 0, p.stderr
    assert re.findall(r"^point (\d+):", p.stdout, re.M) == ["1", "2", "3"]
    # 3-4 significant figures with prefixes and human byte units: no 1.343e+05, no "0.00 GB".
    assert "e+" not in p.stdout, p.stdout
    decimals = re.findall(r"(?<![\w.])\d*\.\d+", p.stdout)
    assert decimals and all(len(d.replace(".", "").lstrip("0")) <= 4 for d in decimals), decimals
    assert re.search(r"cache \d+(\.\d+)? kB", p.stdout), p.stdout
    assert re.findall(r"kvsim: point (\d+)/3 .*started", p.stderr) == ["1", "2", "3"]
    listed = run(kvsim_bin, "validate", source_dir / SMALL, *SWEEP, "--print")
    assert re.findall(r"^--- # point (\d+)$", listed.stdout, re.M) == ["1", "2", "3"]


def test_no_kokkos_proc_bind_warning_and_the_variables_are_explained(kvsim_bin, source_dir, tmp_path):
    p = run(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "t.h5", *TINY)
    assert p.returncode == 0, p.stderr
    assert "OMP_PROC_BIND" not in p.stderr and "WARNING" not in p.stderr, p.stderr
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert f.attrs["complete"] == 1
    text = run(kvsim_bin, "--help").stdout
    env, status = text.index("ENVIRONMENT"), text.index("EXIT STATUS")
    assert env < status
    for name in ("OMP_PROC_BIND", "OMP_PLACES", "OMP_NUM_THREADS", "KOKKOS_DEVICE_ID", "--kokkos-tools-libs"):
        assert name in text[env:status], name
    for code in ("0 ", "1 ", "2 ", "128+N"):
        assert re.search(rf"^\s+{re.escape(code)}", text[status:], re.M), code
    readme = (source_dir / "README.md").read_text()
    assert "OMP_PROC_BIND" in readme and "OMP_PLACES" in readme and "EXIT STATUS" in readme


def test_quiet_prints_only_the_output_path_and_verbose_the_configs(kvsim_bin, source_dir, tmp_path):
    out = tmp_path / "q.h5"
    quiet = run(kvsim_bin, "run", source_dir / SMALL, "-o", out, *TINY, *SWEEP, "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == f"wrote {out}\n"
    # Warnings stay (a 4 MiB probe within the last-level cache is one): nothing else.
    # (batch-job lines start with a UTC timestamp)
    assert all(re.match(r"(\S+Z )?kvsim: warning: ", line) for line in quiet.stderr.splitlines()), quiet.stderr
    verbose = run(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "v.h5", *TINY, *SWEEP, "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "Kokkos configuration:" in verbose.stderr
    assert verbose.stderr.count("resolved config:") == 3 and "dtype: int8" in verbose.stderr
    assert verbose.stdout.count("\npoint ") + verbose.stdout.startswith("point ") == 3


def test_format_json_is_one_line_with_every_point(kvsim_bin, source_dir, tmp_path):
    out = tmp_path / "j.h5"
    p = run(kvsim_bin, "run", source_dir / SMALL, "-o", out, *TINY, *SWEEP, "--format", "json")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n") == 1
    summary = json.loads(p.stdout)
    assert summary["output"] == str(out) and summary["complete"] is True
    assert [pt["point"] for pt in summary["points"]] == [1, 2, 3]
    with h5py.File(out, "r") as f:
        s = f["summary"]
        assert [pt["dtype"] for pt in summary["points"]] == [v.decode() for v in s["dtype"][:]]
        assert [pt["fill_GBps"] for pt in summary["points"]] == list(s["fill_GBps"][:])
        assert [int(pt["checksum"]) for pt in summary["points"]] == [int(v) for v in s["checksum"][:]]
        assert summary["copy_GBps"] == pytest.approx(f.attrs["copy_GBps"])
    bad = run(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / "x.h5", "--format", "xml")
    assert bad.returncode == 2 and "--format" in bad.stderr and not (tmp_path / "x.h5").exists()


TOOL = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
static FILE* out;
void kokkosp_init_library(int level, uint64_t version, uint32_t n, void* info) {
  out = fopen(getenv("REGION_LOG"), "w");
}
void kokkosp_finalize_library(void) { if (out) fclose(out); }
void kokkosp_push_profile_region(const char* name) { if (out) fprintf(out, "%s\n", name); }
void kokkosp_pop_profile_region(void) {}
"""


def test_kokkos_tools_libs_spelling_reaches_a_tool_that_sees_the_decode_region(kvsim_bin, source_dir, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the Kokkos Tools library")
    (tmp_path / "tool.c").write_text(TOOL)
    lib = tmp_path / "libregions.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "tool.c")], check=True)
    for spelling in ("--kokkos-tools-libs", "--kokkos-tools-library"):
        log = tmp_path / f"regions{spelling}.txt"
        p = run(kvsim_bin, "run", source_dir / SMALL, "-o", tmp_path / f"d{spelling}.h5", *TINY, *DECODE,
                "--set", "cache.max_positions=40", f"{spelling}={lib}", env=dict(ENV, REGION_LOG=str(log)))
        assert p.returncode == 0, p.stderr
        regions = set(log.read_text().split())
        assert {"kvsim::fill", "kvsim::retrieve", "kvsim::decode"} <= regions, (spelling, regions)


def test_set_null_removes_an_optional_key(kvsim_bin, source_dir, tmp_path):
    cfg = tmp_path / "decode.yaml"
    cfg.write_text((source_dir / SMALL).read_text().replace(
        "    positions: 40\n", "    positions: 32\n  decode:\n    tokens: 2\n").replace("head_dim: 12", "head_dim: 32"))
    with_decode = run(kvsim_bin, "validate", cfg, "--print")
    assert with_decode.returncode == 0, with_decode.stderr
    assert "decode:" in with_decode.stdout and "tokens: 2" in with_decode.stdout
    without = run(kvsim_bin, "validate", cfg, "--print", "--set", "workload.decode=null")
    assert without.returncode == 0, without.stderr
    assert "tokens: 2" not in without.stdout
    # A required key removed is refused as missing, naming it.
    gone = run(kvsim_bin, "validate", cfg, "--set", "cache.max_positions=~")
    assert gone.returncode == 2 and "cache.max_positions" in gone.stderr and "missing" in gone.stderr, gone.stderr


def test_validate_says_it_did_not_check_device_memory(kvsim_bin, source_dir, tmp_path):
    p = run(kvsim_bin, "validate", source_dir / SMALL)
    assert p.returncode == 0, p.stderr
    assert "ok" in p.stdout and "device memory not checked" in p.stderr
    big = run(kvsim_bin, "validate", source_dir / SMALL, "--set", "cache.max_positions=max", "--print")
    assert big.returncode == 0, big.stderr
    assert "resolves max_positions: max" in big.stderr


def test_sinks_window_default_is_what_the_schema_says(kvsim_bin, source_dir):
    p = run(kvsim_bin, "validate", source_dir / SMALL, "--set", "cache.policy=sinks", "--set", "cache.sinks=4", "--print")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^\s+window: 28$", p.stdout, re.M), p.stdout  # max_positions 32 - sinks 4
    schema = (source_dir / "docs/config-schema.md").read_text()
    example = schema[:schema.index("<!-- generated -->")]
    assert "max_positions - sinks (sinks)" in example
    generated = run(kvsim_bin, "validate", "--schema").stdout
    assert "sinks: max_positions - sinks" in generated and generated in schema
