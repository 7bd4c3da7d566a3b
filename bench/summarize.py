"""Prints the bandwidth ratios of kvsim result files as markdown: the benchmark view of a sweep.

usage: python3 bench/summarize.py FILE.h5 [FILE.h5 ...]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postprocess"))
from kvsim_post.load import KvsimFileError, load_meta, load_summary  # noqa: E402

COLUMNS = [
    ("dtype", "dtype", "{}"), ("layout", "layout", "{}"), ("page_size", "page", "{}"), ("policy", "policy", "{}"),
    ("batch", "batch", "{}"), ("fill_mode", "fill", "{}"), ("valid_positions", "held", "{:,}"),
    ("fill_positions_per_s", "fill pos/s", "{:,.0f}"), ("fill_GBps", "fill GB/s", "{:,.0f}"),
    ("fill_fraction_of_copy", "fill/copy", "{:.0%}"), ("retrieve_GBps", "retrieve GB/s", "{:,.0f}"),
    ("retrieve_fraction_of_copy", "retrieve/copy", "{:.0%}"), ("bytes_per_position", "B/position", "{:,}"),
    ("recon_rel_l2", "rel L2 err", "{:.2e}"), ("evicted_positions", "evicted", "{:,}"),
]


def main(paths):
    for path in paths:
        try:
            df = load_summary(path)
            meta = load_meta(path)
        except KvsimFileError as e:
            print(f"summarize: error: {e}", file=sys.stderr)
            return 2
        print(f"\n### {os.path.basename(path)} — {meta.get('device')} ({meta.get('backend')}), "
              f"copy ceiling {float(meta.get('copy_GBps')):,.0f} GB/s "
              f"(deep_copy {float(meta.get('deep_copy_GBps', 0)):,.0f}, stream {float(meta.get('stream_copy_GBps', 0)):,.0f})\n")
        print("| " + " | ".join(h for _, h, _ in COLUMNS) + " |")
        print("|" + "|".join("---" for _ in COLUMNS) + "|")
        for _, row in df.iterrows():
            print("| " + " | ".join(fmt.format(row[c]) for c, _, fmt in COLUMNS) + " |")
        if "fp16" in set(df["dtype"]) and len(set(df["dtype"])) > 1:
            base = df[df["dtype"] == "fp16"]["fill_GBps"].iloc[0]
            base_t = 1.0 / df[df["dtype"] == "fp16"]["fill_positions_per_s"].iloc[0]
            print("\nappend time relative to fp16 (quantise-on-append cost): " + ", ".join(
                f"{d} {(1.0 / p) / base_t:.2f}x" for d, p in zip(df["dtype"], df["fill_positions_per_s"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
