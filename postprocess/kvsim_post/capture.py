"""Record a Hugging Face transformers Llama-style model's K, V and queries as kvsim `recorded`
data (docs/data.md): /layer_<l>/{k,v,q,positions}, post-RoPE as a cache holds them, with the
pre-RoPE keys and queries beside them (k_pre_rope, q_pre_rope), from one forward pass; and each
layer's output projection (o_proj [hidden, heads * head_dim]) and input hidden states (residual
[n, hidden]), from which kvsim measures the error of the attention block's output where it enters
the residual stream (next_input_rel_err).

Keys and values come from the pass's past key values; the queries from a hook on each layer's
q_proj, rotated with the model's own rotary embedding; the hidden states from a hook on each
decoder layer. The attention output each layer computed (the input of o_proj) and the residual
stream after attention (the input of post_attention_layernorm) are returned too, so a caller can
check the file against its source.

    python3 -m kvsim_post.capture MODEL_DIR OUT.h5 [--tokens N] [--seed S]
"""

import argparse
import sys


def _kv_of(past, layer):
    """(keys, values) of one layer from a past-key-values object of any transformers version."""
    if hasattr(past, "layers") and not isinstance(past, (tuple, list)):
        entry = past.layers[layer]
        return entry.keys, entry.values
    if hasattr(past, "key_cache"):
        return past.key_cache[layer], past.value_cache[layer]
    return past[layer][0], past[layer][1]


def _first_arg(args, kwargs, name):
    return args[0] if args else kwargs[name]


def capture(model, input_ids):
    """Runs the model on input_ids [1, n]; returns ({layer: {name: float32 array}},
    {layer: attention output [n, heads, d]}, {layer: residual stream after attention [n, hidden]})."""
    import torch
    from transformers.models.llama import modeling_llama

    cfg = model.config
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    n = input_ids.shape[1]
    queries, outputs, inputs, after, hooks = {}, {}, {}, {}, []
    for index, block in enumerate(model.model.layers):
        attn = block.self_attn
        hooks.append(attn.q_proj.register_forward_hook(
            lambda mod, args, out, i=index: queries.__setitem__(i, out.detach())))
        hooks.append(attn.o_proj.register_forward_pre_hook(
            lambda mod, args, i=index: outputs.__setitem__(i, args[0].detach())))
        hooks.append(block.register_forward_pre_hook(
            lambda mod, args, kwargs, i=index: inputs.__setitem__(i, _first_arg(args, kwargs, "hidden_states").detach()),
            with_kwargs=True))
        hooks.append(block.post_attention_layernorm.register_forward_pre_hook(
            lambda mod, args, i=index: after.__setitem__(i, args[0].detach())))
    try:
        with torch.no_grad():
            result = model(input_ids=input_ids, use_cache=True)
    finally:
        for h in hooks:
            h.remove()
    positions = torch.arange(n).unsqueeze(0)
    layers, attention, residual_after = {}, {}, {}
    for index, block in enumerate(model.model.layers):
        k, v = _kv_of(result.past_key_values, index)  # [1, kv_heads, n, d], post-RoPE
        q_pre = queries[index].view(1, n, heads, head_dim).transpose(1, 2)
        rotary = getattr(model.model, "rotary_emb", None) or model.model.layers[index].self_attn.rotary_emb
        cos, sin = rotary(q_pre, positions)
        q, _ = modeling_llama.apply_rotary_pos_emb(q_pre, q_pre, cos, sin)
        # Pre-RoPE keys: the rotation undone (rotate by -theta: sin negated).
        k_pre, _ = modeling_llama.apply_rotary_pos_emb(k, k, cos, -sin)
        to = lambda t: t[0].transpose(0, 1).float().cpu().numpy()  # [n, heads, d]
        o_proj = block.self_attn.o_proj
        residual = inputs[index][0]
        if o_proj.bias is not None:  # x + W o + b: the bias belongs with the residual
            residual = residual + o_proj.bias.detach()
        layers[index] = {"k": to(k), "v": to(v), "q": to(q), "k_pre_rope": to(k_pre), "q_pre_rope": to(q_pre),
                         "o_proj": o_proj.weight.detach().float().cpu().numpy(),
                         "residual": residual.float().cpu().numpy()}
        attention[index] = outputs[index][0].view(n, heads, head_dim).float().cpu().numpy()
        residual_after[index] = after[index][0].float().cpu().numpy()
    return layers, attention, residual_after


def write(path, layers):
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f.attrs["kvsim_data"] = "recorded"
        for index, arrays in layers.items():
            g = f.create_group(f"layer_{index}")
            for name, values in arrays.items():
                g.create_dataset(name, data=np.ascontiguousarray(values, dtype=np.float32))
            g.create_dataset("positions", data=np.arange(arrays["k"].shape[0], dtype=np.int64))
            g["o_proj"].attrs["layout"] = "[hidden][heads * head_dim], as torch.nn.Linear stores it"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="kvsim_post.capture", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a transformers model directory or hub name (Llama-style)")
    parser.add_argument("output", help="the HDF5 file to write")
    parser.add_argument("--tokens", type=int, default=256, help="random token ids to run (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        print(f"kvsim_post.capture: error: needs torch and transformers ({e})", file=sys.stderr)
        return 2
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32, attn_implementation="eager").eval()
    gen = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, model.config.vocab_size, (1, args.tokens), generator=gen)
    layers, _, _ = capture(model, ids)
    write(args.output, layers)
    print(f"wrote {args.output}: {len(layers)} layers x {args.tokens} positions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
