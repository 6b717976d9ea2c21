"""gdbench's library of test loss functions, each with what is known about it.

    import problems
    problems.names()
    p = problems.get("rosenbrock", dim=10)
    x0 = p.init(jax.random.PRNGKey(0))
    p.loss(x0), p.f_star, p.x_star, p.info
"""

from problems.problem import Problem, cast_like
from problems.grad_noise import with_grad_noise
from problems.registry import factory, get, names, register

# Importing a module registers its problems.
from problems import bbob as _bbob  # noqa: E402,F401
from problems import classics as _classics  # noqa: E402,F401
from problems import deep_linear as _deep_linear  # noqa: E402,F401
from problems import least_squares as _least_squares  # noqa: E402,F401
from problems import logistic as _logistic  # noqa: E402,F401
from problems import matrix_factorization as _matrix_factorization  # noqa: E402,F401
from problems import matrix_sensing as _matrix_sensing  # noqa: E402,F401
from problems import mlp as _mlp  # noqa: E402,F401
from problems import multi_output_least_squares as _multi_output_least_squares  # noqa: E402,F401
from problems import noisy_quadratic as _noisy_quadratic  # noqa: E402,F401
from problems import quadratic as _quadratic  # noqa: E402,F401
from problems import rosenbrock as _rosenbrock  # noqa: E402,F401
from problems import softmax_regression as _softmax_regression  # noqa: E402,F401
from problems import transformer as _transformer  # noqa: E402,F401

__all__ = ["Problem", "cast_like", "factory", "get", "names", "register", "with_grad_noise"]
