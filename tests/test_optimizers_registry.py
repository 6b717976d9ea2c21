"""The optimizer registry, the specs' contents and the hyperparameter checks."""

from __future__ import annotations

import inspect
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import optax
import pytest

import optimizers
from optimizers import validation

EXPECTED = [
    "adabelief", "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "adan", "ademamix", "adopt",
    "amsgrad", "cocob", "dadapt_adamw", "dog", "dowg", "fromage", "gd", "gd_armijo", "lamb", "lars", "lbfgs", "lion",
    "madgrad", "momentum", "momo", "muon", "nadam", "nesterov", "novograd", "polyak", "prodigy", "radam",
    "rmsprop", "rprop", "schedule_free_adamw", "schedule_free_sgd", "sign_sgd", "sm3", "sophia", "yogi",
]
NAMES = optimizers.names()
DOCS = pathlib.Path(__file__).resolve().parents[1] / "README.md"  # holds the optimizer table


def test_names_are_sorted_and_complete():
    assert NAMES == EXPECTED


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma'; did you mean .*adam"):
        optimizers.get("adma")


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'learnig_rate'; did you mean 'learning_rate'"):
        optimizers.get("adam").make(learnig_rate=0.1)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        optimizers.get("gd").baseline(momentum=0.9)


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_complete(name):
    spec = optimizers.get(name)
    assert getattr(optimizers, name) is spec.factory
    assert dict(spec.defaults) == optimizers.signature_defaults(spec.factory)
    assert set(spec.factory.rules) == set(spec.defaults)
    assert "learning_rate" in spec.search_space
    assert spec.rule and spec.paper
    assert set(spec.needs) <= set(optimizers.EXTRA_ARGS)
    assert isinstance(spec.elementwise, bool)
    for key, value in spec.defaults.items():
        validation.check(name, key, value, spec.factory.rules[key])
    for key, (low, high, scale) in spec.search_space.items():
        assert low < high and scale in ("log", "linear") and (scale == "linear" or low > 0)
        validation.check(name, key, low, spec.factory.rules[key])
        validation.check(name, key, high, spec.factory.rules[key])
    for key, options in spec.choices.items():
        assert spec.defaults[key] in options
        for option in options:
            validation.check(name, key, option, spec.factory.rules[key])
    hp = {"f_min": 0.0} if "f_min" in spec.needs else {}
    for tx in (spec.make(**hp), spec.baseline(**hp)):
        assert isinstance(tx, optax.GradientTransformation)
    if set(spec.needs) & {"value", "grad", "value_fn"}:
        assert isinstance(spec.make(**hp), optax.GradientTransformationExtraArgs)


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_are_written_once(name):
    """Defaults from the signature, search space and choices from the declaration, checks from its rules."""
    spec = optimizers.get(name)
    declared = spec.factory.hyperparameters
    signature = inspect.signature(spec.factory).parameters
    assert {k: p.default for k, p in signature.items()} == dict(spec.defaults)
    assert list(declared) == list(signature)  # every parameter declared, in signature order
    assert dict(spec.search_space) == {k: h.search for k, h in declared.items() if h.search is not None}
    assert dict(spec.choices) == {k: h.choices for k, h in declared.items() if h.choices is not None}
    assert set(spec.search_space) | set(spec.choices) <= set(signature)
    for key, h in declared.items():
        bad = _outside(h.allowed)[-2]  # past an end (numbers), or not a choice
        with pytest.raises(ValueError, match=f"^{name}: {key} must "):
            spec.make(**{key: bad})


def test_a_declaration_its_rules_refuse_fails_at_import():
    def factory(learning_rate=1e-3, b1=0.9):
        return optax.sgd(learning_rate)

    with pytest.raises(TypeError, match=r"^factory: declaration refused by its own rules: b1's search high 1\.5 is not in \[0, 1\)$"):
        validation.hyperparameters(b1=validation.Hyperparameter(validation.DECAY, search=(0.5, 1.5, "linear")))(factory)
    with pytest.raises(TypeError, match=r"learning_rate's default 2 is not in \[0, 1\)"):
        validation.hyperparameters(learning_rate=validation.Interval(0.0, 1.0))(lambda learning_rate=2: None)
    with pytest.raises(TypeError, match=r"b1's choice 'x' is not in \(False, True\)"):
        validation.hyperparameters(b1=validation.Hyperparameter(validation.SWITCH, choices=(False, "x")))(factory)
    with pytest.raises(TypeError, match=r"b1's search \(0\.0, 0\.9, 'log'\) is not \(low < high"):
        validation.hyperparameters(b1=validation.Hyperparameter(validation.DECAY, search=(0.0, 0.9, "log")))(factory)
    checked = validation.hyperparameters(learning_rate=validation.STEP_SIZE)(factory)
    with pytest.raises(ValueError, match=r"does not declare \['b1'\]"):
        optimizers.OptimizerSpec.declared(checked, name="mine", twin=None)


def test_error_message_names_parameter_value_and_range():
    with pytest.raises(ValueError) as info:
        optimizers.adam(b1=1.5)
    assert str(info.value) == "adam: b1 must be in [0, 1), got 1.5"
    with pytest.raises(ValueError) as info:
        optimizers.get("sign_sgd").make(learning_rate=0.0)
    assert str(info.value) == "sign_sgd: learning_rate must be in (0, inf) or a schedule, got 0.0"


def _outside(rule) -> list:
    """Values that `rule` refuses."""
    if not isinstance(rule, validation.Interval):
        return ["bogus", None] + ([1] if True in rule else [])
    bad = [math.nan, "x", True]
    bad.append(rule.low if not rule.low_closed else rule.low - 0.5)
    bad.append(rule.high if not rule.high_closed else rule.high + 0.5)
    if rule.integer:
        bad.append(rule.low + 0.5)
    if not rule.schedule:
        bad.append(lambda count: 0.1)
    if not rule.optional:
        bad.append(None)
    return bad


@pytest.mark.parametrize("name", NAMES)
def test_each_invalid_hyperparameter_raises(name):
    spec = optimizers.get(name)
    for key, rule in spec.factory.rules.items():
        for bad in _outside(rule):
            with pytest.raises(ValueError, match=f"^{name}: {key} must ") as info:
                spec.make(**{key: bad})
            shown = "nan" if isinstance(bad, float) and math.isnan(bad) else repr(bad) if not callable(bad) else ""
            assert shown in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_traced_hyperparameters_are_not_checked(name):
    spec = optimizers.get(name)
    x = jnp.zeros(3)
    for key, rule in spec.factory.rules.items():
        # Integers are static in a sweep (one program per value): L-BFGS's memory_size shapes its state.
        if isinstance(rule, validation.Interval) and not rule.integer:
            bad = next(v for v in _outside(rule) if isinstance(v, float) and not math.isnan(v))
            jax.make_jaxpr(lambda v, key=key: spec.make(**{key: v}).init(x))(bad)  # no ValueError


@pytest.mark.parametrize("name", [n for n in NAMES if optimizers.get(n).factory.rules["learning_rate"].schedule])
def test_schedule_accepted_as_learning_rate(name):
    spec = optimizers.get(name)
    tx = spec.make(learning_rate=optimizers.cosine_decay_schedule(spec.defaults["learning_rate"], 100))
    assert isinstance(tx, optax.GradientTransformation)


def test_docs_table_has_every_optimizer():
    text = DOCS.read_text()
    rows = {m.group(1): line for line in text.splitlines() if (m := re.match(r"\| `(\w+)` \|", line))}
    assert sorted(rows) == NAMES
    for name, line in rows.items():
        spec = optimizers.get(name)
        assert spec.rule.replace("|", "\\|") in line
