"""Bad input: every invalid parameter is a ValueError naming the problem, the parameter and its value."""

from __future__ import annotations

import jax
import pytest

import problems


@pytest.mark.parametrize(
    "name, kwargs, parameter",
    [
        ("rosenbrock", {"dim": 1}, "dim"),
        ("rosenbrock", {"dim": 2.5}, "dim"),
        ("rosenbrock", {"perturb": -1.0}, "perturb"),
        ("quadratic", {"condition_number": 0.5}, "condition_number"),
        ("quadratic", {"dim": 0}, "dim"),
        ("quadratic", {"mu": 0.0}, "mu"),
        ("least_squares", {"n_samples": 0}, "n_samples"),
        ("least_squares", {"noise": -0.1}, "noise"),
        ("least_squares", {"n_features": 1.5}, "n_features"),
        ("logistic", {"n_samples": 0}, "n_samples"),
        ("logistic", {"l2": -1.0}, "l2"),
        ("logistic", {"seed": -1}, "seed"),
        ("logistic", {"dataset": "mnist"}, "dataset"),
        ("logistic", {"dataset": "digits"}, "dataset"),
        ("logistic", {"dataset": "breast_cancer", "n_samples": 100}, "n_samples"),
        ("logistic", {"dataset": "breast_cancer", "l2": 0.0}, "l2"),
        ("softmax_regression", {"l2": 0.0}, "l2"),
        ("softmax_regression", {"n_classes": 1}, "n_classes"),
        ("softmax_regression", {"dataset": "iris"}, "dataset"),
        ("mlp", {"hidden": ()}, "hidden"),
        ("mlp", {"hidden": (8, 0)}, "hidden"),
        ("mlp", {"hidden": "32"}, "hidden"),
        ("mlp", {"l2": -1e-3}, "l2"),
        ("powell_singular", {"dim": 6}, "dim"),
        ("powell_singular", {"dim": 0}, "dim"),
        ("rastrigin", {"dim": 0}, "dim"),
        ("ackley", {"dim": True}, "dim"),
        ("zakharov", {"dim": "3"}, "dim"),
        ("styblinski_tang", {"dim": -2}, "dim"),
    ],
    ids=lambda v: str(v) if not isinstance(v, str) else v,
)
def test_bad_input_names_the_parameter(name, kwargs, parameter):
    with pytest.raises(ValueError) as error:
        problems.get(name, **kwargs)
    message = str(error.value)
    assert name in message and parameter in message and repr(kwargs[parameter]) in message


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ValueError, match="did you mean rosenbrock"):
        problems.get("rosenbrok")
    with pytest.raises(ValueError, match="did you mean 'dim'"):
        problems.get("rastrigin", dims=3)
    with pytest.raises(ValueError, match="batch_size"):
        problems.get("logistic").sample_batch(jax.random.PRNGKey(0), 0)
