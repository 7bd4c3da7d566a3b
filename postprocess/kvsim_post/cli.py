"""kvsim-post command line: `table` and `info` for kvsim result files."""

import argparse
import os
import sys

import pandas as pd

from .load import KvsimFileError, load_meta, load_summary
from .table import markdown_table

PROG = "kvsim-post"


class UsageError(Exception):
    """Bad input that is not a file problem (e.g. an unknown column)."""


def _summaries(paths):
    """One DataFrame for all files; a leading `file` column when there are several."""
    frames = [load_summary(p) for p in paths]
    if len(frames) == 1:
        return frames[0]
    units = {"file": ""}
    for path, df in zip(paths, frames):
        df.insert(0, "file", path)
        for column, unit in df.attrs["units"].items():
            units.setdefault(column, unit)
    combined = pd.concat(frames, ignore_index=True)
    # pandas does not carry attrs through concat.
    combined.attrs["units"] = units
    return combined


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
    selected = df[wanted]
    selected.attrs["units"] = df.attrs["units"]
    return selected


def cmd_table(args):
    df = _summaries(args.files)
    if args.columns is not None:
        df = _select(df, args.files, args.columns)
    print(markdown_table(df))


def cmd_info(args):
    for name, value in load_meta(args.file).items():
        text = str(value)
        if "\n" in text:
            # Multi-line values (the YAML config) stay readable as an indented block.
            print(f"{name}:")
            for row in text.rstrip("\n").splitlines():
                print(f"  {row}")
        else:
            print(f"{name}: {text}")


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description="Summarise kvsim HDF5 result files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    table = sub.add_parser("table", help="print the per-point summary as a markdown table")
    table.add_argument("files", nargs="+", metavar="FILE.h5")
    table.add_argument("--columns", metavar="a,b,c", help="comma-separated summary columns to show")
    table.set_defaults(func=cmd_table)

    info = sub.add_parser("info", help="print the root attributes (run metadata)")
    info.add_argument("file", metavar="FILE.h5")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (KvsimFileError, UsageError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head`: stop quietly, and keep Python from failing at exit flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
