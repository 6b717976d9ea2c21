"""The 24 noiseless BBOB functions: instance data (NumPy) and values (JAX).

Each function F has a builder `build(F, instance, dim) -> (data, x_star)` that
derives its instance from COCO's seeds in float64 NumPy (problems/bbob_random.py),
and a pure loss `value(F)(x, data)` in x's dtype. Notation follows Hansen et al.
(2009): z is the transformed variable, T_osz the oscillation, T_asy^beta the
asymmetry, Lambda^alpha the diagonal conditioning, R and Q rotations, f_pen the
box penalty sum max(0, |x_i| - 5)^2 and f_opt the offset. Where COCO's code
departs from the 2009 report, COCO's code is followed (f4's x_opt has |x_i| on
the odd coordinates, f5 is clipped beyond x_opt, f12's x_opt and rotation share
one seed, f20's reported x_opt is +-4.2096874633 / 2 while the function uses
4.2096874637 / 2).

Non-differentiable points and what `jax.grad` returns there: T_osz is not
differentiable at 0 (its derivative oscillates) and returns 0 for that
coordinate; square roots and fractional powers at 0 (f6, f13, f14, f17, f18,
f20) return 0; f4's factor 10 switches at z_i = 0, f5's clipping, f6's sector
weights, Gallagher's max (f21, f22), Lunacek's min (f24) and Katsuura's
|t - round(t)| (f23) are piecewise smooth and return the derivative of the
active piece; f7's rounding makes it piecewise constant: its gradient is 0 on
every plateau inside the box except the 1e-4 |z_1| term where it dominates.

References:
  Hansen, Finck, Ros, Auger, "Real-Parameter Black-Box Optimization
  Benchmarking 2009: Noiseless Functions Definitions", INRIA RR-6829, 2009
  (updated with COCO, https://github.com/numbbo/coco).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from problems.bbob_random import f_opt, gauss, rotation, sequential_sum, uniform, x_opt

TWO_PI = 2.0 * math.pi


# ---------------------------------------------------------------- NumPy instance helpers


def _powers(base: float, dim: int, scale: float = 1.0) -> np.ndarray:
    """base^(scale * i / (dim - 1)) for i = 0..dim-1, each by libm's pow."""
    return np.array([math.pow(base, scale * i / (dim - 1.0)) for i in range(dim)])


def _r_lambda_q(r: np.ndarray, lam: np.ndarray, q: np.ndarray) -> np.ndarray:
    """R diag(lam) Q with each entry summed in index order."""
    return sequential_sum((r * lam)[:, :, None] * q[None, :, :], axis=1)


def _seed(function: int, instance: int) -> int:
    return {4: 3, 18: 17}.get(function, function) + 10000 * instance


def build(function: int, instance: int, dim: int) -> tuple[dict, np.ndarray]:
    """The instance data of BBOB function `function` (1..24) and its optimum x_opt."""
    s = _seed(function, instance)
    data = {"fopt": np.float64(f_opt(function, instance))}
    xo = x_opt(s, dim)
    if function in (1, 2, 3):
        data["xopt"] = xo
        if function == 2:
            data["w"] = _powers(1e6, dim)
        if function == 3:
            data["asy"] = 0.2 * np.arange(dim) / (dim - 1.0)
            data["lam"] = _powers(10.0, dim, 0.5)
    elif function == 4:
        xo[::2] = np.abs(xo[::2])
        even = np.arange(dim) % 2 == 0
        data.update(xopt=xo, lam=_powers(math.sqrt(10.0), dim), even=even.astype(np.float64))
    elif function == 5:
        xo = np.where(xo < 0.0, -5.0, 5.0)
        slope = np.where(xo > 0.0, 1.0, -1.0) * _powers(math.sqrt(100.0), dim)
        data.update(xopt=xo, slope=slope, base=5.0 * np.abs(slope))
    elif function in (6, 13, 23):
        lam = _powers(math.sqrt({6: 10.0, 13: 10.0, 23: 100.0}[function]), dim)
        data.update(xopt=xo, M=_r_lambda_q(rotation(s + 1000000, dim), lam, rotation(s, dim)))
    elif function == 7:
        scale = np.sqrt(_powers(100.0 / 10.0, dim))
        data.update(xopt=xo, A=scale[:, None] * rotation(s, dim), R=rotation(s + 1000000, dim),
                    w=_powers(100.0, dim))
    elif function == 8:
        xo = xo * 0.75
        data.update(xopt=xo, factor=np.float64(max(1.0, math.sqrt(dim) / 8.0)))
    elif function in (9, 19):
        factor = max(1.0, math.sqrt(dim) / 8.0)
        r = rotation(s, dim)
        data["M"] = factor * r
        # x_opt = R^T 1 / (2 factor): f9 sums R's columns, f19 those of factor * R.
        xo = sequential_sum(data["M"] if function == 19 else r, axis=0) / (2.0 * factor)
    elif function in (10, 11, 14):
        data.update(xopt=xo, R=rotation(s + 1000000, dim))
        if function == 10:
            data["w"] = _powers(1e6, dim)
        if function == 14:
            data["p"] = 2.0 + 4.0 * np.arange(dim) / (dim - 1.0)
    elif function == 12:
        xo = x_opt(s + 1000000, dim)
        data.update(xopt=xo, R=rotation(s + 1000000, dim), asy=0.5 * np.arange(dim) / (dim - 1.0))
    elif function in (15, 16):
        r = rotation(s + 1000000, dim)
        lam = _powers(math.sqrt(10.0), dim) if function == 15 else _powers(1.0 / math.sqrt(100.0), dim)
        data.update(xopt=xo, R=r, M=_r_lambda_q(r, lam, rotation(s, dim)))
        if function == 15:
            data["asy"] = 0.2 * np.arange(dim) / (dim - 1.0)
        else:
            k = np.arange(12.0)
            data.update(a=0.5**k, b=3.0**k)
            data["f0"] = np.float64(sequential_sum(data["a"] * np.cos(TWO_PI * data["b"] * 0.5), axis=0))
    elif function in (17, 18):
        lam = _powers(math.sqrt(10.0 if function == 17 else 1000.0), dim)
        data.update(xopt=xo, R=rotation(s + 1000000, dim), M=rotation(s, dim) * lam[:, None],
                    asy=0.5 * np.arange(dim) / (dim - 1.0))
    elif function == 20:
        sign = np.where(uniform(dim, s) - 0.5 < 0.0, -1.0, 1.0)
        data.update(sign=sign, xopt2=2.0 * np.abs(0.5 * 4.2096874637 * sign), lam=_powers(10.0, dim, 0.5))
        xo = 0.5 * 4.2096874633 * sign
    elif function in (21, 22):
        data_g, xo = _gallagher(s, dim, 101 if function == 21 else 21)
        data.update(data_g)
    elif function == 24:
        xo = np.where(gauss(dim, s) < 0.0, -1.25, 1.25)
        data.update(sign=np.sign(xo), R=rotation(s + 1000000, dim),
                    A=_powers(math.sqrt(100.0), dim)[:, None] * rotation(s, dim))
    else:
        raise ValueError(f"bbob: function must be an integer in [1, 24], got {function!r}")
    return data, xo


def _gallagher(seed: int, dim: int, peaks: int) -> tuple[dict, np.ndarray]:
    """f21 (101 peaks) / f22 (21 peaks): peak heights, conditionings, centres, rotation."""
    b, c, first = (10.0, 5.0, math.sqrt(1000.0)) if peaks == 101 else (9.8, 4.9, 1000.0)
    r = rotation(seed, dim)
    order = np.argsort(uniform(peaks - 1, seed), kind="stable")
    condition = [first] + [math.pow(1000.0, order[i - 1] / (peaks - 2.0)) for i in range(1, peaks)]
    height = [10.0] + [(i - 1) / (peaks - 2.0) * (9.1 - 1.1) + 1.1 for i in range(1, peaks)]
    scales = np.empty((peaks, dim))
    for i in range(peaks):
        rank = np.argsort(uniform(dim, seed + 1000 * i), kind="stable")
        scales[i] = [math.pow(condition[i], rank[j] / (dim - 1.0) - 0.5) for j in range(dim)]
    y = b * uniform(dim * peaks, seed) - c
    centres = sequential_sum(r[:, None, :] * y.reshape(peaks, dim)[None, :, :], axis=2)  # (dim, peaks)
    centres[:, 0] *= 0.8
    data = {"R": r, "centres": centres.T.copy(), "scales": scales, "height": np.array(height)}
    return data, 0.8 * y[:dim]


# ---------------------------------------------------------------- JAX building blocks


def _mv(m, v):
    """Matrix-vector product at full precision (no reduced-precision matmul on GPUs)."""
    return jnp.matmul(m, v, precision=jax.lax.Precision.HIGHEST)


def t_osz(x):
    """T_osz, elementwise: sign(x) exp(x^ + 0.049 (sin(c1 x^) + sin(c2 x^))), x^ = log|x|; T_osz(0) = 0."""
    nz = x != 0
    r = jnp.log(jnp.abs(jnp.where(nz, x, 1.0))) / 0.1
    pos = x > 0
    wave = jnp.where(pos, jnp.sin(r) + jnp.sin(0.79 * r), jnp.sin(0.55 * r) + jnp.sin(0.31 * r))
    return jnp.where(nz, jnp.sign(x) * jnp.exp(0.1 * (r + 0.49 * wave)), 0.0)


def t_asy(x, c):
    """T_asy: x_i^(1 + c_i sqrt(x_i)) where x_i > 0, x_i elsewhere (c_i = beta i / (D - 1))."""
    pos = x > 0
    xp = jnp.where(pos, x, 1.0)
    return jnp.where(pos, xp ** (1.0 + c * jnp.sqrt(xp)), x)


def f_pen(x):
    """The box penalty sum_i max(0, |x_i| - 5)^2."""
    return jnp.sum(jnp.square(jnp.maximum(jnp.abs(x) - 5.0, 0.0)))


def _safe_sqrt(s):
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def _safe_pow(s, p):
    pos = s > 0
    return jnp.where(pos, jnp.where(pos, s, 1.0) ** p, 0.0)


def _rastrigin(z):
    return 10.0 * (z.shape[0] - jnp.sum(jnp.cos(TWO_PI * z))) + jnp.sum(z * z)


def _ellipsoid(z, w):
    return jnp.sum(w * z * z)


def _rosenbrock(z):
    return 100.0 * jnp.sum(jnp.square(z[:-1] * z[:-1] - z[1:])) + jnp.sum(jnp.square(z[:-1] - 1.0))


# ---------------------------------------------------------------- the 24 functions


def _f1(x, d):
    return jnp.sum(jnp.square(x - d["xopt"])) + d["fopt"]


def _f2(x, d):
    return _ellipsoid(t_osz(x - d["xopt"]), d["w"]) + d["fopt"]


def _f3(x, d):
    return _rastrigin(d["lam"] * t_asy(t_osz(x - d["xopt"]), d["asy"])) + d["fopt"]


def _f4(x, d):
    z = t_osz(x - d["xopt"])
    s = d["lam"] * jnp.where((z > 0) & (d["even"] > 0), 10.0, 1.0)
    return _rastrigin(s * z) + d["fopt"] + 100.0 * f_pen(x)


def _f5(x, d):
    z = jnp.where(x * d["xopt"] < 25.0, x, d["xopt"])
    return jnp.sum(d["base"] - d["slope"] * z) + d["fopt"]


def _f6(x, d):
    z = _mv(d["M"], x - d["xopt"])
    y = jnp.sum(jnp.where(d["xopt"] * z > 0, 1e4, 1.0) * z * z)
    return _safe_pow(t_osz(y), 0.9) + d["fopt"]


def _f7(x, d):
    zh = _mv(d["A"], x - d["xopt"])
    zt = jnp.where(jnp.abs(zh) > 0.5, jnp.floor(zh + 0.5), jnp.floor(10.0 * zh + 0.5) / 10.0)
    z = _mv(d["R"], zt)
    return 0.1 * jnp.maximum(1e-4 * jnp.abs(zh[0]), _ellipsoid(z, d["w"])) + f_pen(x) + d["fopt"]


def _f8(x, d):
    return _rosenbrock(d["factor"] * (x - d["xopt"]) + 1.0) + d["fopt"]


def _f9(x, d):
    return _rosenbrock(_mv(d["M"], x) + 0.5) + d["fopt"]


def _f10(x, d):
    return _ellipsoid(t_osz(_mv(d["R"], x - d["xopt"])), d["w"]) + d["fopt"]


def _f11(x, d):
    z = t_osz(_mv(d["R"], x - d["xopt"]))
    return 1e6 * z[0] * z[0] + jnp.sum(z[1:] * z[1:]) + d["fopt"]


def _f12(x, d):
    z = _mv(d["R"], t_asy(_mv(d["R"], x - d["xopt"]), d["asy"]))
    return z[0] * z[0] + jnp.sum(1e6 * z[1:] * z[1:]) + d["fopt"]


def _f13(x, d):
    z = _mv(d["M"], x - d["xopt"])
    return 100.0 * _safe_sqrt(jnp.sum(z[1:] * z[1:])) + z[0] * z[0] + d["fopt"]


def _f14(x, d):
    z = _mv(d["R"], x - d["xopt"])
    return _safe_sqrt(jnp.sum(jnp.abs(z) ** d["p"])) + d["fopt"]


def _f15(x, d):
    z = _mv(d["M"], t_asy(t_osz(_mv(d["R"], x - d["xopt"])), d["asy"]))
    return _rastrigin(z) + d["fopt"]


def _f16(x, d):
    z = _mv(d["M"], t_osz(_mv(d["R"], x - d["xopt"])))
    s = jnp.sum(jnp.cos(TWO_PI * (z[:, None] + 0.5) * d["b"][None, :]) * d["a"][None, :])
    return 10.0 * (s / x.shape[0] - d["f0"]) ** 3 + d["fopt"] + 10.0 / x.shape[0] * f_pen(x)


def _f17(x, d):
    z = _mv(d["M"], t_asy(_mv(d["R"], x - d["xopt"]), d["asy"]))
    t = z[:-1] * z[:-1] + z[1:] * z[1:]
    terms = _safe_pow(t, 0.25) * (1.0 + jnp.square(jnp.sin(50.0 * _safe_pow(t, 0.1))))
    return jnp.square(jnp.sum(terms) / (x.shape[0] - 1.0)) + d["fopt"] + 10.0 * f_pen(x)


def _f19(x, d):
    z = _mv(d["M"], x) + 0.5
    s = 100.0 * jnp.square(z[:-1] * z[:-1] - z[1:]) + jnp.square(1.0 - z[:-1])
    return 10.0 + 10.0 * jnp.sum(s / 4000.0 - jnp.cos(s)) / (x.shape[0] - 1) + d["fopt"]


def _f20(x, d):
    xh = 2.0 * (d["sign"] * x)
    zh = jnp.concatenate([xh[:1], xh[1:] + 0.25 * (xh[:-1] - d["xopt2"][:-1])])
    z = 100.0 * (d["lam"] * (zh - d["xopt2"]) + d["xopt2"])
    pen = jnp.sum(jnp.square(jnp.maximum(jnp.abs(z) - 500.0, 0.0)))
    s = jnp.sum(z * jnp.sin(_safe_sqrt(jnp.abs(z))))
    return 0.01 * (pen + 418.9828872724339 - s / x.shape[0]) + d["fopt"]


def _gallagher_value(x, d):
    y = _mv(d["R"], x)
    q = jnp.sum(d["scales"] * jnp.square(y[None, :] - d["centres"]), axis=1)
    g = 10.0 - jnp.max(d["height"] * jnp.exp(-0.5 / x.shape[0] * q))
    return jnp.square(t_osz(g)) + f_pen(x) + d["fopt"]


def _f23(x, d):
    dim = x.shape[0]
    z = _mv(d["M"], x - d["xopt"])
    p = 2.0 ** jnp.arange(1, 33, dtype=x.dtype)
    t = p[None, :] * z[:, None]
    s = jnp.sum(jnp.abs(t - jnp.floor(t + 0.5)) / p[None, :], axis=1)
    prod = jnp.prod((1.0 + jnp.arange(1, dim + 1, dtype=x.dtype) * s) ** (10.0 / math.pow(dim, 1.2)))
    return 10.0 / (dim * dim) * (prod - 1.0) + d["fopt"] + f_pen(x)


def _f24(x, d):
    dim = x.shape[0]
    mu0, s = 2.5, 1.0 - 0.5 / (math.sqrt(dim + 20.0) - 4.1)
    mu1 = -math.sqrt((mu0 * mu0 - 1.0) / s)
    xh = 2.0 * x * d["sign"]
    z = _mv(d["R"], _mv(d["A"], xh - mu0))
    bowl = jnp.minimum(jnp.sum(jnp.square(xh - mu0)), dim + s * jnp.sum(jnp.square(xh - mu1)))
    return bowl + 10.0 * (dim - jnp.sum(jnp.cos(TWO_PI * z))) + 1e4 * f_pen(x) + d["fopt"]


VALUES = {
    1: _f1, 2: _f2, 3: _f3, 4: _f4, 5: _f5, 6: _f6, 7: _f7, 8: _f8, 9: _f9, 10: _f10, 11: _f11, 12: _f12,
    13: _f13, 14: _f14, 15: _f15, 16: _f16, 17: _f17, 18: _f17, 19: _f19, 20: _f20, 21: _gallagher_value,
    22: _gallagher_value, 23: _f23, 24: _f24,
}
