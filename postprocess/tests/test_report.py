"""`kvsim-post report`: files written, PNGs valid, provenance, table and skipped plots listed."""

import re

import matplotlib.image
import numpy as np
import pytest

from cli_helpers import assert_one_line_error, run_cli
from make_files import FULL_PLOTS, FULL_ROOT, FULL_SUMMARY, V2_ROOT, write_full, write_v2, write_valid

FLAT_PLOTS = {"bandwidth_achieved_vs_copy.png", "recon_rel_l2_vs_bytes_per_position.png"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def report(tmp_path, *files, extra=()):
    out = tmp_path / "report"
    result = run_cli("report", *files, "-o", out, *extra)
    return result, out


def pngs(folder):
    return {p.name for p in folder.glob("*.png")}


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """One report of write_full's file, shared by the tests that only read it (drawing the PNGs
    is most of the suite's time)."""
    tmp_path = tmp_path_factory.mktemp("full_report")
    return report(tmp_path, write_full(tmp_path / "full.h5"))


def section(text, title):
    """Lines of a markdown section, up to the next heading of the same or a higher level."""
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_full_file_gets_every_plot_as_a_valid_png(full_report):
    result, out = full_report
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert pngs(out) == set(FULL_PLOTS)
    for name in FULL_PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        image = matplotlib.image.imread(out / name)  # decodes the whole image: fails on a broken PNG
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300, name
        assert np.ptp(image) > 0, f"{name} is blank"
        svg = (out / name).with_suffix(".svg").read_text()  # beside it, for a paper
        assert svg.startswith("<?xml") and "<svg" in svg and "</svg>" in svg, name


def test_report_links_every_plot_and_lists_no_skips(full_report):
    _, out = full_report
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for name in FULL_PLOTS:
        assert re.search(rf"!\[[^\]]+\]\({re.escape(name)}\)", md), name
        assert f'<img src="{name}"' in html, name
    assert "None: the data had what every plot needs." in section(md, "Skipped plots")


def test_findings_come_first_and_provenance_last(full_report):
    _, out = full_report
    md = (out / "report.md").read_text()
    heads = re.findall(r"^## (.+)$", md, re.M)
    assert heads[0] in ("Warnings", "Summary") and heads[-1] == "Provenance", heads
    assert heads.index("Summary") < heads.index("Plots") < heads.index("Provenance")


def test_html_is_self_contained(full_report):
    _, out = full_report
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<script" not in html and "<link" not in html
    for src in re.findall(r'src="([^"]+)"', html):
        assert (out / src).is_file(), src


def test_provenance_lists_run_and_bandwidths(full_report):
    _, out = full_report
    md = section((out / "report.md").read_text(), "Provenance")
    rows = dict(re.findall(r"^\| (\w+) +\| (.*?) +\|$", md, re.M))
    assert rows["device"] == "NVIDIA H100 80GB HBM3"
    assert rows["backend"] == "Cuda"
    assert rows["git_sha"] == "3f2a9c1e-dirty"
    assert rows["created"] == "2026-11-27T12:00:00Z"
    assert rows["copy_GBps"] == "2,877 GB/s"
    assert rows["read_GBps"] == "2,950 GB/s"
    assert rows["write_GBps"] == "2,712 GB/s"
    assert rows["complete"] == "yes" and rows["points"] == "6"
    assert "full.h5" in md
    assert FULL_ROOT["device"] in (out / "report.html").read_text()


def test_missing_bandwidths_say_not_recorded(tmp_path, kvsim_file):
    _, out = report(tmp_path, kvsim_file)  # the older fixture has copy_GBps only
    md = section((out / "report.md").read_text(), "Provenance")
    assert re.search(r"^\| read_GBps +\| not recorded +\|$", md, re.M)


def test_summary_table_holds_the_points(full_report):
    _, out = full_report
    md = section((out / "report.md").read_text(), "Summary")
    lines = [line for line in md.splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert "retrieve_GBps [GB/s]" in head and "tokens_per_s [tokens/s]" in head
    assert len(lines) == 2 + 6
    row = dict(zip(head, [c.strip() for c in lines[2 + 5].strip("|").split("|")]))
    # The median with the min–max computed from the point's retrieve_seconds (POINTS[1], spread < 0.1%).
    assert row["retrieve_GBps [GB/s]"] == "2,181 (2,181–2,181)" and row["layout"] == "paged" and row["dtype"] == "int8"
    html = (out / "report.html").read_text()
    assert '<th class="num">retrieve_GBps [GB/s]</th>' in html
    assert html.count("<td") >= 6 * len(head)


def test_skipped_plots_are_listed_with_reasons(tmp_path, flat_file):
    result, out = report(tmp_path, flat_file)
    assert result.returncode == 0, result.stderr
    assert pngs(out) == FLAT_PLOTS
    assert {p.name for p in out.glob("*.svg")} == {n.replace(".png", ".svg") for n in FLAT_PLOTS}
    skipped = section((out / "report.md").read_text(), "Skipped plots")
    for name in ("fill_GBps_vs_positions.png", "retrieve_GBps_vs_positions.png", "kv_cache_bytes_vs_positions.png"):
        assert re.search(rf"^- `{re.escape(name)}` .*: needs more than one distinct positions value", skipped, re.M), name
    assert re.search(r"^- `tokens_per_s_vs_positions.png` .*: no 'tokens_per_s' column$", skipped, re.M)
    assert re.search(r"^- `decode_ms_per_token_by_phase.png` .*: no decode points", skipped, re.M)
    assert "<li><code>decode_ms_per_token_by_phase.png</code>" in (out / "report.html").read_text()
    assert "cannot be drawn on a log axis: #0 fp32 contiguous 0" in (out / "report.md").read_text()


def test_rerun_into_the_same_folder_leaves_no_stale_plots(tmp_path, full_file, flat_file):
    report(tmp_path, full_file)
    result, out = report(tmp_path, flat_file)
    assert result.returncode == 0, result.stderr
    assert pngs(out) == FLAT_PLOTS
    assert {p.name for p in out.glob("*.svg")} == {n.replace(".png", ".svg") for n in FLAT_PLOTS}


def test_several_files_get_a_file_column_and_provenance_each(tmp_path, full_file, kvsim_file):
    result, out = report(tmp_path, full_file, kvsim_file)
    assert result.returncode == 0, result.stderr
    md = (out / "report.md").read_text()
    assert "### full.h5" in md and "### run.h5" in md
    table = [line for line in section(md, "Summary").splitlines() if line.startswith("|")]
    assert table[0].startswith("| file ") and len(table) == 2 + 6 + 2


def test_incomplete_file_is_refused_without_the_flag(tmp_path):
    path = write_full(tmp_path / "running.h5", complete=0)
    result, out = report(tmp_path, path)
    assert_one_line_error(result, str(path), "incomplete", "--allow-incomplete")
    assert not (out / "report.md").exists()


def test_incomplete_file_is_reported_with_the_flag(tmp_path):
    path = write_full(tmp_path / "running.h5", complete=0)
    result, out = report(tmp_path, path, extra=["--allow-incomplete"])
    assert result.returncode == 0, result.stderr
    md = (out / "report.md").read_text()
    assert "Warning: incomplete run(s)" in md
    assert re.search(r"^\| complete +\| NO \(complete = 0\): 6 finished point\(s\) only +\|$", md, re.M)
    assert pngs(out) == set(FULL_PLOTS)


def test_run_without_finished_points_skips_every_plot(tmp_path):
    empty = {name: ([], dtype, units) for name, (_values, dtype, units) in FULL_SUMMARY.items()}
    path = write_full(tmp_path / "started.h5", empty, complete=0)
    result, out = report(tmp_path, path, extra=["--allow-incomplete"])
    assert result.returncode == 0, result.stderr
    assert pngs(out) == set()
    skipped = section((out / "report.md").read_text(), "Skipped plots")
    assert len(re.findall(r"^- `.*`.*: no finished points$", skipped, re.M)) == 7


def test_sparse_file_reports_without_crashing(tmp_path):
    sparse = {name: FULL_SUMMARY[name] for name in ("point", "dtype", "fill_GBps")}
    result, out = report(tmp_path, write_full(tmp_path / "sparse.h5", sparse))
    assert result.returncode == 0, result.stderr
    assert pngs(out) == {"bandwidth_achieved_vs_copy.png"}
    assert "no 'positions' column" in (out / "report.md").read_text()


def test_bad_file_exits_2(tmp_path, bad_file):
    path, word = bad_file
    result, _ = report(tmp_path, write_valid(tmp_path / "good.h5"), path)
    assert_one_line_error(result, str(path), word)


def test_unwritable_output_exits_2(tmp_path, full_file):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert_one_line_error(run_cli("report", full_file, "-o", blocker), str(blocker), "cannot write the report")


def test_schema2_report_shows_spread_warnings_and_n_a(tmp_path):
    path = write_v2(tmp_path / "v2.h5", root=dict(V2_ROOT, copy_GBps=np.float64(2000.0)), noise=0.5)
    result, out = report(tmp_path, path)
    assert result.returncode == 0, result.stderr
    md = (out / "report.md").read_text()
    warnings = section(md, "Warnings")
    assert "point 0: ceiling exceeded (fill_fraction_of_copy=" in warnings
    assert re.search(r"point \d: fill repetitions spread [\d.]+x", warnings)
    summary = section(md, "Summary")
    assert "median (min–max)" in summary
    assert re.search(r"\| +[\d,.]+ \([\d,.]+–[\d,.]+\) +\|", summary)
    assert "n/a" in summary
    assert "Note: error bars: min–max over the repetitions" in md
    assert len(result.stderr.splitlines()) == len(re.findall(r"^- ", warnings, re.M))
