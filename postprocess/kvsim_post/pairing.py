"""Which points of two result files ran the same thing, and whether two files are the same experiment.

A point is what its resolved configuration says (/points/<i> attribute `config`), less the keys
that name or file a run instead of defining it; the summary's configuration columns are added to
the key as a check. Nothing is ever paired by position in the sweep when anything differs.
"""

import json

from .load import CONFIG_COLUMNS

# Top-level config keys that do not define a point: the experiment's name, where the file goes,
# and how it is measured (warm-ups, repetitions, probe sizes). Nested keys are kept: the point's
# `workload.retrieve.output` is a precision.
NOT_THE_POINT = ("name", "output", "run")
CEILINGS = ("copy_GBps", "read_GBps")
BY_CONFIG = "each point's resolved configuration"
BY_SUMMARY = "the summary configuration columns"
CEILING_TOLERANCE = 0.10  # ceilings of one device re-probed differ by a few %; more is another setup

try:
    import yaml
except ModuleNotFoundError:  # PyYAML is optional: the text fallback reads yaml-cpp's block style
    yaml = None


def _parse(text):
    if yaml is not None:
        try:
            value = yaml.safe_load(text)
            if isinstance(value, dict):
                return value
        except yaml.YAMLError:
            pass
    return None


def canonical(text):
    """The point-defining part of a point's YAML as one comparable string."""
    parsed = _parse(text)
    if parsed is not None:
        kept = {k: v for k, v in parsed.items() if k not in NOT_THE_POINT}
        return json.dumps(kept, sort_keys=True, default=str)
    kept, skipping = [], False
    for line in text.splitlines():
        if line and not line[0].isspace():  # a top-level key starts a new block
            skipping = line.split(":", 1)[0].strip() in NOT_THE_POINT
        if not skipping and line.strip():
            kept.append(line.rstrip())
    return "\n".join(kept)


def experiment_name(df):
    """The experiment's `name` from the root config (or the first point's), or None."""
    texts = [df.attrs.get("meta", {}).get("config")] + [p.get("config") for p in df.attrs.get("points", {}).values()]
    for text in texts:
        if not isinstance(text, str):
            continue
        parsed = _parse(text)
        if parsed is not None and "name" in parsed:
            return str(parsed["name"])
        for line in text.splitlines():
            if line.startswith("name:"):
                return line.split(":", 1)[1].strip()
    return None


def point_keys(df, columns):
    """One key per row: (canonical config or None, values of `columns`)."""
    points = df.attrs.get("points", {})
    numbers = df["point"].tolist() if "point" in df.columns else list(range(len(df)))
    configs = [points.get(int(n), {}).get("config") for n in numbers]
    have_configs = all(isinstance(c, str) for c in configs) and len(configs) > 0
    rows = df[columns].itertuples(index=False, name=None)
    return [(canonical(c) if have_configs else None,) + tuple(map(_value, row)) for c, row in zip(configs, rows)], have_configs


def _value(v):
    return v.item() if hasattr(v, "item") else v


def pair(a, b):
    """([(row in a, row in b)], unpaired rows of a, unpaired rows of b, what the key is made of).

    Rows with equal keys pair in order: a sweep that repeats a configuration ran it twice.
    """
    columns = [c for c in CONFIG_COLUMNS if c in a.columns and c in b.columns]
    keys_a, configs_a = point_keys(a, columns)
    keys_b, configs_b = point_keys(b, columns)
    by_config = configs_a and configs_b
    if not by_config:  # one file lacks per-point configs: the summary columns must do
        keys_a = [k[1:] for k in keys_a]
        keys_b = [k[1:] for k in keys_b]
    waiting = {}
    for j, key in enumerate(keys_b):
        waiting.setdefault(key, []).append(j)
    pairs, lone_a = [], []
    for i, key in enumerate(keys_a):
        if waiting.get(key):
            pairs.append((i, waiting[key].pop(0)))
        else:
            lone_a.append(i)
    lone_b = sorted(j for rows in waiting.values() for j in rows)
    basis = BY_CONFIG if by_config else BY_SUMMARY
    return pairs, lone_a, lone_b, basis, columns


def differences(a, b, names, lone_a, lone_b):
    """Why A and B are not one experiment measured twice on one setup: a list of reasons."""
    reasons = []
    if lone_a or lone_b:
        reasons.append(f"different point sets ({len(lone_a)} point(s) of {names[0]} and {len(lone_b)} of "
                       f"{names[1]} have no partner)")
    name_a, name_b = experiment_name(a), experiment_name(b)
    if name_a != name_b:
        reasons.append(f"different experiment names ({name_a!r} vs {name_b!r})")
    meta_a, meta_b = a.attrs.get("meta", {}), b.attrs.get("meta", {})
    if meta_a.get("device") != meta_b.get("device"):
        reasons.append(f"different devices ({meta_a.get('device')!r} vs {meta_b.get('device')!r})")
    for ceiling in CEILINGS:
        va, vb = meta_a.get(ceiling), meta_b.get(ceiling)
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va > 0:
            if abs(vb / va - 1) > CEILING_TOLERANCE:
                reasons.append(f"different ceilings ({ceiling} {va:.6g} vs {vb:.6g} GB/s, "
                               f"{vb / va - 1:+.0%}; more than {CEILING_TOLERANCE:.0%} apart)")
    return reasons
