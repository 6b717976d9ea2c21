"""gdbench's optimizers: our own JAX implementations, each an optax.GradientTransformation.

    import optimizers
    optimizers.names()                       # sorted registered names
    spec = optimizers.get("adam")            # unknown name -> ValueError with close matches
    spec = optimizers.resolve(my_factory)    # also a spec, a plain optax factory, "module:attribute"
    @optimizers.elementwise                  # marks a plain factory elementwise: it runs lanes-last
    tx = spec.make(learning_rate=1e-3)       # ours
    ref = spec.baseline(learning_rate=1e-3)  # optax's twin
    optimizers.adam(learning_rate=1e-3)      # the factory, directly

Importing the package registers every optimizer (each module registers its own).
`python -m optimizers.table` prints the README's optimizer table from the registry.
"""

from optimizers.adabelief import adabelief
from optimizers.adafactor import adafactor
from optimizers.adadelta import adadelta
from optimizers.adagrad import adagrad
from optimizers.adam import adam, adamw, nadam
from optimizers.adamax import adamax
from optimizers.adan import adan
from optimizers.ademamix import ademamix
from optimizers.adopt import adopt
from optimizers.custom import elementwise, resolve
from optimizers.amsgrad import amsgrad
from optimizers.armijo import gd_armijo
from optimizers.cocob import cocob
from optimizers.dadapt_adamw import dadapt_adamw
from optimizers.dog import dog, dowg
from optimizers.fromage import fromage
from optimizers.lbfgs import lbfgs
from optimizers.lion import lion
from optimizers.madgrad import madgrad
from optimizers.novograd import novograd
from optimizers.momo import momo
from optimizers.muon import muon
from optimizers.polyak import polyak
from optimizers.prodigy import prodigy
from optimizers.radam import radam
from optimizers.registry import EXTRA_ARGS, OptimizerSpec, get, names, register, signature_defaults
from optimizers.rmsprop import rmsprop
from optimizers.rprop import rprop
from optimizers.schedule_free import schedule_free_adamw, schedule_free_sgd
from optimizers.sophia import sophia
from optimizers.schedules import (
    constant_schedule,
    cosine_decay_schedule,
    exponential_decay,
    warmup_cosine_decay_schedule,
)
from optimizers.sgd import gd, momentum, nesterov
from optimizers.sign_sgd import sign_sgd
from optimizers.trust_ratio import lamb, lars
from optimizers.sm3 import sm3
from optimizers.yogi import yogi

__all__ = [
    "EXTRA_ARGS", "OptimizerSpec", "elementwise", "get", "names", "register", "resolve", "signature_defaults",
    "adabelief", "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "adan", "ademamix", "adopt",
    "amsgrad", "cocob", "dadapt_adamw", "dog", "dowg", "fromage", "gd", "gd_armijo", "lamb", "lars", "lbfgs", "lion",
    "madgrad", "momentum", "momo", "muon", "nadam", "nesterov", "novograd", "polyak", "prodigy", "radam",
    "rmsprop", "rprop", "schedule_free_adamw", "schedule_free_sgd", "sign_sgd", "sm3", "sophia", "yogi",
    "constant_schedule", "cosine_decay_schedule", "exponential_decay", "warmup_cosine_decay_schedule",
]
