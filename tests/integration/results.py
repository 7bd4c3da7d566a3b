"""Reading kvsim result files in tests."""
import h5py

# Not the result's content: what differs between runs or ranks by design.
VOLATILE = {"rank", "device_memory_used_bytes"}


TIMING_SUFFIXES = ("_per_s", "_GBps", "_ms", "_fraction_of_copy", "_fraction_of_roofline", "_fraction_of_read",
                   "_TFLOPs", "_fraction_of_gemm")


def content(path):
    """{point: {column: value}} of the content columns that a run on any number of ranks must
    reproduce (timings and the rank column excluded)."""
    with h5py.File(path, "r") as f:
        s = f["summary"]
        # Timings, their ranges (_min/_max), spreads and the ceilings they beat are not content.
        cols = [c for c in s.keys() if c not in VOLATILE and c != "ceiling_exceeded" and not c.endswith("_spread")
                and not c.removesuffix("_min").removesuffix("_max").endswith(TIMING_SUFFIXES)]
        data = {c: s[c][()] for c in cols}
        out = {}
        for i, p in enumerate(data["point"]):
            out[int(p)] = {c: (v[i].decode() if isinstance(v[i], bytes) else v[i].item() if hasattr(v[i], "item") else v[i])
                           for c, v in data.items()}
        for p in out:
            out[p]["config"] = f["points"][str(p)].attrs.get("config", b"")
    return out
