"""New (untracked) arrays: constants, ranges and reproducible random draws."""

from __future__ import annotations

import math

import numpy as np

from ..errors import EvalError, ShapeError
from .tensor import MODE, Tensor, check_size

DEFAULT_SEED = 0
_seed = DEFAULT_SEED
_rng = None     # made on the first draw: importing numpy.random costs start-up


def seed(n: int = DEFAULT_SEED) -> None:
    global _seed, _rng
    if not 0 <= int(n) < 2 ** 64:      # numpy's generators take these
        raise EvalError(f"seed must be a whole number from 0 to 2**64 - 1, got {int(n)}")
    _seed, _rng = int(n), None


def _generator():
    global _rng
    if _rng is None:
        _rng = np.random.default_rng(_seed)
    return _rng


def _shape(shape) -> tuple[int, ...]:
    shape = tuple(int(n) for n in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if any(n < 0 for n in shape):
        raise ShapeError(f"negative dimension in shape {shape}")
    check_size(math.prod(shape))
    return shape


def array(value) -> Tensor:
    """From nested lists of numbers; ragged nesting is an error."""
    try:
        data = np.array(value, dtype=MODE.dtype)
    except (ValueError, TypeError):
        raise ShapeError("array literal is ragged: every row must have the same length") from None
    check_size(data.size)
    return Tensor(data)


def zeros(shape) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=MODE.dtype))


def ones(shape) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=MODE.dtype))


def full(shape, value) -> Tensor:
    return Tensor(np.full(_shape(shape), value, dtype=MODE.dtype))


def eye(n, m=None) -> Tensor:
    _shape((n, n if m is None else m))
    return Tensor(np.eye(int(n), None if m is None else int(m), dtype=MODE.dtype))


def arange(start, stop=None, step=1.0) -> Tensor:
    if stop is None:
        start, stop = 0.0, start
    if step == 0:
        raise EvalError("arange: step must not be zero")
    count = max(0, int(np.ceil((stop - start) / step)))
    check_size(count)
    return Tensor(np.arange(start, stop, step, dtype=MODE.dtype))


def normal(mean=0.0, std=1.0, shape=()) -> Tensor:
    if not std >= 0:        # NaN too
        raise EvalError(f"normal: the standard deviation must be 0 or more, not {std:g}")
    return Tensor(_generator().normal(mean, std, _shape(shape)).astype(MODE.dtype, copy=False))


def uniform(low=0.0, high=1.0, shape=()) -> Tensor:
    if not high >= low:
        raise EvalError(f"uniform: high ({high:g}) must not be less than low ({low:g})")
    if not np.isfinite(high - low):
        raise EvalError(f"uniform: the bounds must be finite numbers, not {low:g} and {high:g}")
    return Tensor(_generator().uniform(low, high, _shape(shape)).astype(MODE.dtype, copy=False))


def permutation(n) -> Tensor:
    """A shuffled index array 0..n-1 (integers, usable as x[idx])."""
    check_size(int(n))
    return Tensor(_generator().permutation(int(n)))
