"""kvsim-post command line: `table` and `info` for kvsim result files."""

import argparse
import json
import math
import os
import sys

import pandas as pd

from . import __version__, metrics, spread
from .load import CONFIG_COLUMNS, KvsimFileError, load_meta, load_summary
from .table import markdown_table

PROG = "kvsim-post"
ALLOW_INCOMPLETE_HELP = "also read files of runs that did not finish (complete = 0): their finished points"


class UsageError(Exception):
    """Bad input that is not a file problem (e.g. an unknown column)."""


def _summaries(paths, allow_incomplete=False):
    """Each file's summary with its spread (spread.with_spread), and one frame of them all:
    a leading `file` column when there are several."""
    frames = [spread.with_spread(load_summary(p, allow_incomplete)) for p in paths]
    if len(frames) == 1:
        return frames, frames[0]
    attrs = metrics.merged_attrs(frames, {"file": ""})
    tagged = []
    for path, df in zip(paths, frames):
        df = df.copy()
        df.insert(0, "file", path)
        df.attrs = {}  # concat compares attrs, and the series arrays make that fail
        tagged.append(df)
    combined = pd.concat(tagged, ignore_index=True)
    # pandas does not carry attrs through concat.
    combined.attrs.update(attrs)
    return frames, combined


def _warn(paths, frames):
    for path, df in zip(paths, frames):
        for line in spread.warnings(df, path):
            print(f"{PROG}: warning: {line}", file=sys.stderr)


def _select(df, paths, columns):
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    if not wanted:
        raise UsageError("--columns is empty")
    unknown = [c for c in wanted if c not in df.columns]
    if unknown:
        where = paths[0] if len(paths) == 1 else ", ".join(paths)
        raise UsageError(f"unknown column '{unknown[0]}' in {where} (available: {', '.join(df.columns)})")
    if "file" in df.columns and "file" not in wanted:
        wanted.insert(0, "file")  # rows from several files are ambiguous without it
    # A timed metric's min and max come along, to be shown beside it.
    extra = [f"{c}_{end}" for c in wanted for end in ("min", "max") if f"{c}_{end}" in df.columns and f"{c}_{end}" not in wanted]
    selected = df[wanted + extra]
    selected.attrs.update({a: df.attrs[a] for a in metrics.ATTRIBUTES if a in df.attrs})
    return selected, wanted


# `table`'s default: what a reader compares first. `--columns all` shows the whole summary.
DEFAULT_METRICS = ["fill_GBps", "retrieve_GBps", "retrieve_fraction_of_copy", "tokens_per_s",
                   "attention_rel_err", "kv_cache_bytes", "verified"]
# Shown by default even when every point has the same value: they name what ran.
DEFAULT_CONFIG = ["dtype", "layout", "positions"]


def default_columns(df):
    """point, the configuration columns that vary between the rows (or name the design), and
    the headline metrics the file has."""
    config = [c for c in CONFIG_COLUMNS + ["attention_kernel"]
              if c in df.columns and (c in DEFAULT_CONFIG or df[c].nunique(dropna=False) > 1)]
    if "max_positions" in config and "positions" in df.columns and (df["max_positions"] == df["positions"]).all():
        config.remove("max_positions")  # a context sweep of full caches: the same column twice
    # A metric no point measured (tokens_per_s 0 without decode, attention_rel_err -1) is noise.
    measured = {"tokens_per_s": lambda v: v > 0, "attention_rel_err": lambda v: v >= 0}
    metrics = [c for c in DEFAULT_METRICS
               if c in df.columns and (c not in measured or measured[c](df[c].fillna(-1)).any())]
    return ["point"] + config + metrics


def _plain(value):
    """A JSON value: numpy scalars as Python numbers (shortest repr), NaN as null."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def cmd_table(args):
    frames, df = _summaries(args.files, args.allow_incomplete)
    columns = args.columns if args.columns is not None else ",".join(default_columns(df))
    keep = ()
    if columns.strip() != "all":
        df, keep = _select(df, args.files, columns)
    if args.format == "md":
        print(markdown_table(spread.shown(df, keep)))
    elif args.format == "csv":
        # Raw numbers (the _min/_max columns beside each metric) for a spreadsheet or pandas.
        sys.stdout.write(df.to_csv(index=False))
    else:
        print(json.dumps([{k: _plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]))
    _warn(args.files, frames)


def cmd_info(args):
    for name, value in load_meta(args.file, args.allow_incomplete).items():
        text = str(value)
        if "\n" in text:
            # Multi-line values (the YAML config) stay readable as an indented block.
            print(f"{name}:")
            for row in text.rstrip("\n").splitlines():
                print(f"  {row}")
        else:
            print(f"{name}: {text}")


def cmd_report(args):
    try:
        import matplotlib  # noqa: F401  (only `report` needs it)
    except ModuleNotFoundError:
        raise UsageError(f"report needs matplotlib, which {sys.executable} lacks (install python3-matplotlib)") from None
    from .plots import Plot
    from .report import write_report

    frames = [spread.with_spread(load_summary(p, args.allow_incomplete)) for p in args.files]
    try:
        built = write_report(args.files, frames, args.output)
    except OSError as err:
        raise UsageError(f"{args.output}: cannot write the report ({err.strerror or err})") from None
    _warn(args.files, frames)
    made = sum(1 for p in built if isinstance(p, Plot))
    print(f"{os.path.join(args.output, 'report.md')}, {os.path.join(args.output, 'report.html')}: "
          f"{made} plot(s), {len(built) - made} skipped")


def cmd_compare(args):
    from .compare import CompareError, compare_frames, describe

    if not (args.threshold >= 0 and math.isfinite(args.threshold)):
        raise UsageError(f"--threshold must be a finite number >= 0, not {args.threshold}")
    metrics = [m.strip() for value in args.metric or [] for m in value.split(",") if m.strip()]
    a = load_summary(args.a, args.allow_incomplete)
    b = load_summary(args.b, args.allow_incomplete)
    try:
        result = compare_frames(a, b, metrics, args.threshold, names=(args.a, args.b),
                                allow_different=args.allow_different)
    except CompareError as err:
        raise UsageError(str(err)) from None
    print(f"A: {args.a}\nB: {args.b}\n")
    print(markdown_table(result.table))
    print()
    print("\n".join(describe(result, args.threshold)))
    # The exit status is the CI verdict: 1 fails a pipeline step on a regression.
    return 1 if result.regressions else 0


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description="Summarise kvsim HDF5 result files.",
                                     epilog="Exit status: 0 success, 1 a regression (compare), 2 bad input "
                                            "(a file, column or flag). KVSIM_PYTHON picks the interpreter of "
                                            "the postprocess/kvsim-post wrapper.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    table = sub.add_parser("table", help="print the per-point summary (markdown, CSV or JSON)")
    table.add_argument("files", nargs="+", metavar="FILE.h5")
    table.add_argument("--columns", metavar="a,b,c",
                       help="comma-separated summary columns to show, or 'all' (default: point, the "
                            "configuration columns that vary, and the headline metrics)")
    table.add_argument("--format", choices=("md", "csv", "json"), default="md",
                       help="md: aligned markdown, timed metrics as median (min–max); csv, json: raw "
                            "numbers, one row (JSON: one object) per point (default md)")
    table.add_argument("--allow-incomplete", action="store_true", help=ALLOW_INCOMPLETE_HELP)
    table.set_defaults(func=cmd_table)

    info = sub.add_parser("info", help="print the root attributes (run metadata)")
    info.add_argument("file", metavar="FILE.h5")
    info.add_argument("--allow-incomplete", action="store_true", help=ALLOW_INCOMPLETE_HELP)
    info.set_defaults(func=cmd_info)

    report = sub.add_parser("report", help="write report.md, report.html and PNG plots into a folder")
    report.add_argument("files", nargs="+", metavar="FILE.h5")
    report.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the report (created)")
    report.add_argument("--allow-incomplete", action="store_true", help=ALLOW_INCOMPLETE_HELP)
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser("compare", help="B/A ratios per paired point; exit 1 on a significant regression")
    compare.add_argument("a", metavar="A.h5", help="baseline")
    compare.add_argument("b", metavar="B.h5", help="candidate")
    compare.add_argument("--metric", action="append", metavar="NAME",
                         help="summary column to compare (repeatable or comma-separated; "
                              "default: fill_GBps, retrieve_GBps, tokens_per_s where both files have them)")
    compare.add_argument("--threshold", type=float, default=0.05,
                         help="relative change that counts as a regression (default 0.05 = 5%%)")
    compare.add_argument("--allow-different", action="store_true",
                         help="compare files that are not the same experiment on the same setup (other points, "
                              "name, device, or copy/read ceilings more than 10%% apart), flagging each difference")
    compare.add_argument("--allow-incomplete", action="store_true", help=ALLOW_INCOMPLETE_HELP)
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except (KvsimFileError, UsageError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head`: stop quietly, and keep Python from failing at exit flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status or 0
