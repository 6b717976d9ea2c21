"""A tiny causal transformer on associative recall: non-convex, optimum unknown.

Task (from `seed`, no download): each of n_samples sequences lists `pairs`
key-value pairs k_1 v_1 ... k_P v_P (distinct keys drawn from n_keys key
tokens, values drawn from n_values value tokens, a vocabulary of
n_keys + n_values), followed by `queries` of its keys, distinct, in random
order. The model's output at each query position is scored against that key's
value, the token that would follow it (Ba et al. 2016; Olsson et al. 2022):

f(theta) = mean over sequences and query positions of CE(softmax(logits), value).

Copying some value of the context brings the loss from ln(n_values) to about
ln(pairs); recalling the right one needs attention to the matching key and
then to the token after it (an induction head; two layers).

Model (pre-layer-norm, as GPT-2): h = tok_embed[tokens] + pos_embed; per layer
h += attn(LN(h)), h += MLP(LN(h)) with causal softmax attention over n_heads
heads and a GELU (tanh form, so smooth) MLP of width d_mlp; logits =
LN(h) @ unembed. The parameters are a dict of named arrays: "tok_embed"
(vocab, d), "pos_embed" (T, d), "block0", "block1", ... each a dict with
"ln1_scale", "ln1_bias", "wq", "wk", "wv", "wo" (d, d), "ln2_scale",
"ln2_bias", "w1" (d, d_mlp), "b1", "w2" (d_mlp, d), "b2", and "lnf_scale",
"lnf_bias", "unembed" (d, vocab). The default sizes give 19,456 parameters.
The starting point: embeddings N(0, 1), weight matrices N(0, 1 / fan_in) (wo
and w2 further scaled by 1 / sqrt(2 n_layers), as GPT-2), layer-norm scales 1,
biases 0, drawn from the key. f* and x* are unknown (None).

References:
  Vaswani et al., "Attention is all you need", NeurIPS 2017.
  Radford et al., "Language models are unsupervised multitask learners", 2019
    (GPT-2: pre-layer-norm, the residual-projection scaling).
  Ba, Hinton, Mnih, Leibo & Ionescu, "Using fast weights to attend to the
    recent past", NeurIPS 2016 (associative recall).
  Olsson et al., "In-context learning and induction heads", 2022.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.softmax_regression import cross_entropy
from problems.validate import MAX_SEED, check_elements, check_int

LN_EPS = 1e-5


def layer_norm(h, scale, bias):
    mean = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(h - mean), axis=-1, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(var + LN_EPS) * _lead(scale, h) + _lead(bias, h)


def _lead(a, like):
    """`a` with leading unit axes to `like`'s rank (explicit broadcasting)."""
    return a.reshape((1,) * (like.ndim - a.ndim) + a.shape)


def causal_attention(q, k, v):
    """softmax(q k^T / sqrt(d_head) + causal mask) v, per head: (B, T, H, d_head) each."""
    scores = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(q.shape[-1])
    t = q.shape[1]
    causal = jnp.tril(jnp.ones((1, 1, t, t), dtype=bool))
    weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
    return jnp.einsum("bhts,bshd->bthd", weights, v)


def make_loss(n_heads: int, attend=causal_attention):
    """The loss `fn(params, data, batch)` of n_heads-head attention mixing by `attend(q, k, v)`.

    The problem uses `causal_attention`; bench/dev/perf_transformer.py swaps in
    `v` itself (no mixing) to measure what the attention costs.
    """

    def block(h, p):
        b, t, d = h.shape
        heads = lambda a: a.reshape(b, t, n_heads, d // n_heads)  # noqa: E731
        a = layer_norm(h, p["ln1_scale"], p["ln1_bias"])
        mixed = attend(heads(a @ p["wq"]), heads(a @ p["wk"]), heads(a @ p["wv"]))
        h = h + mixed.reshape(b, t, d) @ p["wo"]
        a = layer_norm(h, p["ln2_scale"], p["ln2_bias"])
        hidden = jax.nn.gelu(a @ p["w1"] + _lead(p["b1"], a), approximate=True)
        return h + hidden @ p["w2"] + _lead(p["b2"], h)

    def loss(params, data, batch=None):
        data = cast_like(data, params)
        tokens, answers = data["tokens"], data["y"]
        if batch is not None:
            tokens, answers = tokens[batch], answers[batch]
        n_layers = sum(key.startswith("block") for key in params)
        h = params["tok_embed"][tokens] + params["pos_embed"][None]
        for i in range(n_layers):
            h = block(h, params[f"block{i}"])
        q = answers.shape[1]
        h = layer_norm(h[:, -q:], params["lnf_scale"], params["lnf_bias"])
        logits = h @ params["unembed"]
        return cross_entropy(logits.reshape(-1, logits.shape[-1]), answers.reshape(-1))

    return loss


@functools.lru_cache(maxsize=16)
def _task(n_samples, pairs, queries, n_keys, n_values, seed):
    """Token sequences (N, 2 pairs + queries) and the queried values (N, queries), int32."""
    rng = np.random.default_rng(seed)
    keys = np.argsort(rng.random((n_samples, n_keys)), axis=1)[:, :pairs]  # distinct keys
    values = n_keys + rng.integers(0, n_values, (n_samples, pairs))
    asked = np.argsort(rng.random((n_samples, pairs)), axis=1)[:, :queries]  # distinct queries
    context = np.stack([keys, values], axis=2).reshape(n_samples, 2 * pairs)
    tokens = np.concatenate([context, np.take_along_axis(keys, asked, axis=1)], axis=1).astype(np.int32)
    answers = np.take_along_axis(values, asked, axis=1).astype(np.int32)
    return datasets.readonly(tokens, answers)


def _shapes(vocab, seq_len, d_model, d_mlp, n_layers):
    d = d_model
    block = {"ln1_scale": (d,), "ln1_bias": (d,), "wq": (d, d), "wk": (d, d), "wv": (d, d), "wo": (d, d),
             "ln2_scale": (d,), "ln2_bias": (d,), "w1": (d, d_mlp), "b1": (d_mlp,), "w2": (d_mlp, d), "b2": (d,)}
    return {"tok_embed": (vocab, d), "pos_embed": (seq_len, d),
            **{f"block{i}": block for i in range(n_layers)},
            "lnf_scale": (d,), "lnf_bias": (d,), "unembed": (d, vocab)}


def _init_scale(name: str, shape: tuple, n_layers: int) -> float | None:
    """The standard deviation of a parameter's normal draw; None for constant ones (scales 1, biases 0)."""
    if name in ("tok_embed", "pos_embed"):
        return 1.0
    if len(shape) == 2:
        return (1.0 if name not in ("wo", "w2") else 1.0 / math.sqrt(2 * n_layers)) / math.sqrt(shape[0])
    return None


@register("transformer")
def transformer(
    n_samples: int = 1000,
    pairs: int = 6,
    queries: int = 4,
    n_keys: int = 16,
    n_values: int = 16,
    d_model: int = 32,
    n_heads: int = 2,
    n_layers: int = 2,
    d_mlp: int = 64,
    seed: int = 0,
) -> Problem:
    """A causal transformer trained on seeded associative-recall sequences.

    Args:
      n_samples: number of sequences (the data set minibatches are drawn from).
      pairs: key-value pairs per sequence (<= n_keys).
      queries: queried keys per sequence (<= pairs), each scored.
      n_keys, n_values: the key and value vocabularies (disjoint tokens).
      d_model: width of the residual stream (a multiple of n_heads).
      n_heads: attention heads per layer.
      n_layers: transformer blocks (attention + MLP).
      d_mlp: width of each block's MLP.
      seed: the data's seed.
    """
    name = "transformer"
    n_samples = check_int(name, "n_samples", n_samples, minimum=1)
    n_keys = check_int(name, "n_keys", n_keys, minimum=1)
    n_values = check_int(name, "n_values", n_values, minimum=2)
    pairs = check_int(name, "pairs", pairs, minimum=1, maximum=n_keys)
    queries = check_int(name, "queries", queries, minimum=1, maximum=pairs)
    n_heads = check_int(name, "n_heads", n_heads, minimum=1)
    d_model = check_int(name, "d_model", d_model, minimum=n_heads, multiple_of=n_heads)
    n_layers = check_int(name, "n_layers", n_layers, minimum=1)
    d_mlp = check_int(name, "d_mlp", d_mlp, minimum=1)
    seed = check_int(name, "seed", seed, minimum=0, maximum=MAX_SEED)
    seq_len = 2 * pairs + queries
    vocab = n_keys + n_values
    check_elements(name, "n_samples and pairs", n_samples, seq_len)
    check_elements(name, "d_model and d_mlp", d_model, d_mlp)
    check_elements(name, "d_model, n_keys and n_values", d_model, vocab)
    check_elements(name, "n_samples, pairs and d_model", n_samples, seq_len, d_model)
    tokens, answers = _task(n_samples, pairs, queries, n_keys, n_values, seed)
    shapes = _shapes(vocab, seq_len, d_model, d_mlp, n_layers)
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(shapes, is_leaf=lambda s: isinstance(s, tuple))
    names = [path[-1].key for path, _ in with_paths]
    leaves = [shape for _, shape in with_paths]
    scales = [_init_scale(n, s, n_layers) for n, s in zip(names, leaves)]
    sizes = [math.prod(s) for s in leaves]

    @functools.partial(jax.jit, static_argnums=1)  # one program, not one per leaf
    def init(key, dtype=jnp.float32):
        # One normal draw for every random leaf, scaled per leaf.
        z = jax.random.normal(key, (sum(n for n, s in zip(sizes, scales) if s is not None),), jnp.float32)
        out, start = [], 0
        for n, shape, size, scale in zip(names, leaves, sizes, scales):
            if scale is None:
                out.append(jnp.full(shape, 1.0 if n.endswith("scale") else 0.0, dtype))
            else:
                out.append((scale * z[start:start + size].reshape(shape)).astype(dtype))
                start += size
        return jax.tree.unflatten(treedef, out)

    return Problem(
        name=name,
        dim=sum(sizes),
        args={"n_samples": n_samples, "pairs": pairs, "queries": queries, "n_keys": n_keys,
              "n_values": n_values, "d_model": d_model, "n_heads": n_heads, "n_layers": n_layers,
              "d_mlp": d_mlp, "seed": seed},
        fn=make_loss(n_heads),
        data={"tokens": tokens, "y": answers},
        init_fn=init,
        f_star=None,
        x_star=None,
        info={"convex": False, "n_samples": n_samples, "seq_len": seq_len, "vocab": vocab},
        sample_batch_fn=datasets.sample_rows,
    )
