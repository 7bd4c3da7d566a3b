"""`kvsim-post report`: report.md and report.html with PNG plots next to them.

Both documents are rendered from one list of blocks, so they always say the same thing.
"""

import html
import os
import re

import pandas as pd

from . import plots, spread
from .metrics import ATTRIBUTES
from .table import format_number, html_table, markdown_table

PROVENANCE = ["device", "backend", "git_sha", "kvsim_version", "kokkos_version", "created", "finished",
              "config_file", "command_line"]
# Written by newer kvsim versions only: shown when the file has them.
IF_RECORDED = ["host", "mpi_ranks", "resumed"]
BANDWIDTHS = ["copy_GBps", "read_GBps", "write_GBps", "deep_copy_GBps", "stream_copy_GBps"]
# The columns a reader compares designs by; `kvsim-post table` prints all of them.
REPORT_COLUMNS = [
    "file", "point", "dtype", "layout", "policy", "page_size", "batch", "positions", "decode_tokens",
    "fill_GBps", "fill_fraction_of_copy", "retrieve_GBps", "retrieve_fraction_of_copy", "tokens_per_s",
    "append_ms", "attention_ms", "weights_ms", "attention_rel_err", "recon_rel_l2", "kv_cache_bytes",
    "bytes_per_position", "verified",
]
# Every name a plot can have, so a rerun into the same folder leaves no stale picture behind.
ALL_PLOT_FILES = {"fill_GBps_vs_positions.png", "retrieve_GBps_vs_positions.png", "tokens_per_s_vs_positions.png",
                  "kv_cache_bytes_vs_positions.png", "bandwidth_achieved_vs_copy.png",
                  "decode_ms_per_token_by_phase.png", "attention_rel_err_vs_bytes_per_position.png",
                  "recon_rel_l2_vs_bytes_per_position.png"}


def _provenance(path, label, meta, rows):
    values = [(name, str(meta.get(name, "not recorded"))) for name in PROVENANCE]
    values += [(name, str(meta[name])) for name in IF_RECORDED if name in meta]
    for name in BANDWIDTHS:
        value = meta.get(name)
        values.append((name, f"{format_number(value)} GB/s" if isinstance(value, (int, float)) else "not recorded"))
    complete = meta.get("complete")
    state = "yes" if complete == 1 else f"NO (complete = {complete}): {rows} finished point(s) only"
    values += [("complete", state), ("points", str(rows))]
    table = pd.DataFrame(values, columns=["attribute", "value"])
    return [("h3", label), ("p", f"Path: `{path}`"), ("table", table)]


def build_blocks(paths, frames, data, built):
    blocks = [("h1", "kvsim report"),
              ("p", f"{len(paths)} result file(s): " + ", ".join(f"`{p}`" for p in paths) + ".")]
    incomplete = [str(p) for p, df in zip(paths, frames) if df.attrs["meta"].get("complete") != 1]
    if incomplete:
        blocks.append(("p", "Warning: incomplete run(s), only the finished points are shown: "
                            + ", ".join(f"`{p}`" for p in incomplete) + "."))
    warnings = [line for path, df in zip(paths, frames) for line in spread.warnings(df, str(path))]
    if warnings:
        blocks += [("h2", "Warnings"), ("ul", warnings)]

    blocks.append(("h2", "Summary"))
    columns = [c for c in REPORT_COLUMNS if c in data.columns and (c != "file" or len(paths) > 1)]
    ranges = [f"{c}_{end}" for c in columns for end in ("min", "max") if f"{c}_{end}" in data.columns]
    table = data[columns + ranges].copy()
    table.attrs.update({a: data.attrs[a] for a in ATTRIBUTES if a in data.attrs})
    note = "Every column: `kvsim-post table FILE.h5`."
    if ranges:
        note = f"Timed metrics read `median (min–max)` over the repetitions. {note}"
    blocks += [("table", spread.shown(table)), ("p", note)]

    made = [p for p in built if isinstance(p, plots.Plot)]
    skipped = [p for p in built if isinstance(p, plots.Skipped)]
    blocks.append(("h2", "Plots"))
    for plot in made:
        blocks += [("h3", plot.title), ("img", plot.filename, plot.title)]
        blocks += [("p", f"Note: {note}") for note in plot.notes]
    blocks.append(("h2", "Skipped plots"))
    if skipped:
        blocks.append(("ul", [f"`{s.filename}` ({s.title}): {s.reason}" for s in skipped]))
    else:
        blocks.append(("p", "None: the data had what every plot needs."))
    # Findings first; where they came from last.
    blocks.append(("h2", "Provenance"))
    for path, label, df in zip(paths, plots.file_labels(paths), frames):
        blocks += _provenance(path, label, df.attrs["meta"], len(df))
    return blocks


def render_markdown(blocks):
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + rest[0])
        elif kind == "p":
            out.append(rest[0])
        elif kind == "table":
            out.append(markdown_table(rest[0]))
        elif kind == "img":
            out.append(f"![{rest[1]}]({rest[0]})")
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in rest[0]))
    return "\n\n".join(out) + "\n"


def _inline(text):
    """HTML-escaped text with `code` spans, the only markup the blocks use."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


STYLE = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}th,td{border:1px solid #ccc;padding:0.2em 0.5em}
th{background:#f3f3f3}.num{text-align:right}img{max-width:100%}code{background:#f3f3f3;padding:0 0.2em}
.scroll{overflow-x:auto}"""


def render_html(blocks):
    body = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "table":
            body.append(f'<div class="scroll">{html_table(rest[0])}</div>')
        elif kind == "img":
            body.append(f'<p><img src="{html.escape(rest[0])}" alt="{html.escape(rest[1])}"></p>')
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in rest[0]) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>kvsim report</title>\n"
            f"<style>\n{STYLE}\n</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def write_report(paths, frames, outdir):
    """Write report.md, report.html and the PNGs into outdir; returns the list of Plot/Skipped."""
    os.makedirs(outdir, exist_ok=True)
    data = plots.combine(frames, plots.file_labels(paths))
    built = plots.build_plots(data)
    made = {p.filename for p in built if isinstance(p, plots.Plot)}
    for name in ALL_PLOT_FILES - made:
        for stale in (os.path.join(outdir, name), os.path.join(outdir, os.path.splitext(name)[0] + ".svg")):
            if os.path.exists(stale):
                os.remove(stale)
    for plot in built:
        if isinstance(plot, plots.Plot):
            plots.save_png(plot, os.path.join(outdir, plot.filename))
    blocks = build_blocks(paths, frames, data, built)
    with open(os.path.join(outdir, "report.md"), "w", encoding="utf-8") as f:
        f.write(render_markdown(blocks))
    with open(os.path.join(outdir, "report.html"), "w", encoding="utf-8") as f:
        f.write(render_html(blocks))
    return built
