"""GitHub-flavoured markdown tables from DataFrames (no tabulate dependency)."""

import math
import numbers

import pandas as pd

# Units that add nothing to a header: dimensionless counts and labels.
_SILENT_UNITS = ("", "1")
# Identifiers compared digit by digit, not quantities: no thousands separators.
RAW_COLUMNS = ("checksum",)


def format_number(value):
    """Integers get thousands separators; floats 4 significant digits, big ones as integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        # At this size 4 significant digits would print zeros in place of real digits.
        return f"{value:,.0f}"
    return f"{value:.4g}"


def human_bytes(value, binary=False):
    """4 significant figures with a unit: 2.4 MB (decimal), or 32 KiB for powers of two."""
    step, units = (1024.0, ("B", "KiB", "MiB", "GiB", "TiB")) if binary else (1000.0, ("B", "kB", "MB", "GB", "TB"))
    value = float(value)
    i = 0
    while abs(value) >= step and i < len(units) - 1:
        value /= step
        i += 1
    return f"{value:.4g} {units[i]}"


def _format_bytes(value):
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return format_number(value)
    return human_bytes(value)


def _format_text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    # A raw '|' would end the cell; newlines would end the row.
    return " ".join(str(value).split()).replace("|", "\\|")


# Units a cell names itself (human_bytes), so the header does not.
_CELL_UNITS = ("bytes",)


def header(name, units):
    unit = units.get(name, "")
    return f"{name} [{unit}]" if unit not in _SILENT_UNITS + _CELL_UNITS else str(name)


def _is_numeric(series):
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _kinds(df, units, raw_columns):
    """Per column: (right-aligned?, cell formatter). attrs["numeric_text"] names columns of
    preformatted numbers (spread.shown: `12.3 (11.9–15.0)`, `n/a`). Byte counts read as
    2.147 GB (csv and json keep the exact numbers)."""
    text_numbers = set(df.attrs.get("numeric_text", ()))
    kinds = []
    for c in df.columns:
        numeric = _is_numeric(df[c])
        if c in raw_columns or not numeric:
            fmt = _format_text
        else:
            fmt = _format_bytes if units.get(c, "") == "bytes" else format_number
        kinds.append((numeric or c in text_numbers, fmt))
    return kinds


def markdown_table(df, units=None, raw_columns=RAW_COLUMNS):
    """df as a markdown table; units (column -> units) defaults to df.attrs["units"]."""
    units = df.attrs.get("units", {}) if units is None else units
    columns = list(df.columns)
    numeric, formats = zip(*_kinds(df, units, raw_columns)) if columns else ((), ())
    heads = [_format_text(header(c, units)) for c in columns]
    cells = [[fmt(v) for v, fmt in zip(row, formats)] for row in df.itertuples(index=False, name=None)]
    widths = [max([len(h), 3] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]

    def line(values):
        padded = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    return "\n".join([line(heads), rule] + [line(r) for r in cells])


def html_table(df, units=None, raw_columns=RAW_COLUMNS):
    """df as an HTML <table>, cells formatted as in markdown_table (numbers right-aligned)."""
    import html

    units = df.attrs.get("units", {}) if units is None else units
    columns = list(df.columns)
    numeric, formats = zip(*_kinds(df, units, raw_columns)) if columns else ((), ())

    def cell(tag, text, num):
        attr = ' class="num"' if num else ""
        return f"<{tag}{attr}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", header(c, units), num) for c, num in zip(columns, numeric))
    rows = ["<tr>" + "".join(cell("td", fmt(v), num) for v, fmt, num in zip(row, formats, numeric)) + "</tr>"
            for row in df.itertuples(index=False, name=None)]
    return "<table>\n<thead><tr>" + head + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
