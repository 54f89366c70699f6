"""The workloads and, for each, its implementations.

Every workload is implemented five ways, all in float64:

- ``gradcli``: a ``.ag`` program from ``bench/workloads/`` run in-process
  through ``gradcli.api`` (parsed once, outside the timing);
- ``numpy``: plain numpy with the gradient written by hand (the floor);
- ``numpy_fwd``: plain numpy, forward only (context: what the values cost);
- ``torch``: PyTorch eager;
- ``autograd``: HIPS autograd.

``build(workload, impl, params)`` imports what the implementation needs and
returns a ``Runner``: ``run()`` performs one repeat (one whole program, or a
loop of ``per`` iterations) and returns the gradient(s) it computed (for
linear regression: the trained ``w`` and ``b``), which the worker sums into
a checksum so the report can flag implementations that disagree. This
module is imported only inside worker processes, after the thread-count
variables are set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"
SAMPLE_13 = ROOT / "samples" / "13_linear_regression.ag"

TINY_X = [[1.0, 2.0], [3.0, 4.0]]
CONTROL_A = [3.0, 4.0, 5.0]
LR_TRUE_W = [2.0, -3.4]
LR_TRUE_B = 4.2


class Unavailable(Exception):
    """The implementation's library is not installed."""


@dataclass
class Runner:
    run: Callable[[], object]
    per: int = 1                 # iterations per run (the time is divided by it)
    note: str = ""


# ----------------------------------------------------------------- inputs

def elementwise_input(size: int):
    import numpy as np
    return np.random.default_rng(1).uniform(-2.0, 2.0, int(size))


def matmul_inputs(size: int):
    import numpy as np
    rng = np.random.default_rng(2)
    n = int(size)
    return {"x": rng.standard_normal((n, n)),
            "W1": rng.standard_normal((n, n)) / math.sqrt(n),
            "W2": rng.standard_normal((n, n)) / math.sqrt(n)}


# ----------------------------------------------------------------- gradcli

def _gradcli_program(name: str):
    from gradcli import api
    return api.load((WORKLOADS_DIR / f"{name}.ag").read_text())


def _gradcli_runner(program, inputs, grad_names, per=1, note=""):
    from gradcli import api
    options = api.Options()

    def run():
        result = api.run(program, inputs=inputs, options=options)
        return [result.grads[n] for n in grad_names if n in result.grads]
    return Runner(run, per, note)


def gradcli_tiny(p):
    return _gradcli_runner(_gradcli_program("tiny"), {"n": p["iters"]}, ["x"], p["iters"])


def gradcli_control(p):
    return _gradcli_runner(_gradcli_program("control"), {"n": p["iters"]}, ["a"], p["iters"])


def gradcli_linreg(p):
    """samples/13 itself; bench/workloads/linreg.ag only if the sample fails."""
    from gradcli import api
    from gradcli.errors import GradcliError
    options = api.Options()
    state = {"program": api.load(SAMPLE_13.read_text()), "checked": False}
    runner = Runner(None, 1, "")

    def run():
        if not state["checked"]:
            state["checked"] = True
            try:
                result = api.run(state["program"], options=options)
            except GradcliError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                runner.note = (f"samples/13 fails ({first}); measured "
                               "bench/workloads/linreg.ag (epoch loss under no_grad)")
                state["program"] = _gradcli_program("linreg")
                result = api.run(state["program"], options=options)
        else:
            result = api.run(state["program"], options=options)
        return [result.variables["w"].value, result.variables["b"].value]
    runner.run = run
    return runner


def gradcli_elementwise(p):
    return _gradcli_runner(_gradcli_program("elementwise"),
                           {"x": elementwise_input(p["size"])}, ["x"])


def gradcli_matmul(p):
    return _gradcli_runner(_gradcli_program("matmul"), matmul_inputs(p["size"]),
                           ["x", "W1", "W2"])


def gradcli_chain(p):
    return _gradcli_runner(_gradcli_program("chain"),
                           {"n": p["n"], "do_backward": 1 if p["backward"] else 0}, ["x"])


# ------------------------------------------------------------------ numpy

def numpy_tiny(p, backward=True):
    import numpy as np
    x = np.array(TINY_X)
    n = p["iters"]

    def run():
        g = None
        for _ in range(n):
            y = 2 * x ** 2                   # forward
            if backward:                     # d sum(y)/dx = 2 * (2x): chain rule, head of ones elided
                g = 2 * (2 * x)
        return [g] if backward else [y]
    return Runner(run, n)


def numpy_control(p, backward=True):
    import numpy as np
    a = np.array(CONTROL_A)
    n = p["iters"]
    norm = np.linalg.norm

    def run():
        g = None
        for _ in range(n):
            b = a
            doublings = 0
            while norm(b) < 1000:
                b = b * 2
                doublings += 1
            big = np.sum(b) > 0
            c = b if big else 100 * b
            if backward:                     # vjp of sum(c), step by step
                g = np.ones_like(c)
                if not big:
                    g = 100 * g
                for _ in range(doublings):
                    g = g * 2
        return [g] if backward else [c]
    return Runner(run, n)


def _numpy_linreg_start():
    """D2L's synthetic data and initial parameters, for the numpy-based peers."""
    import numpy as np
    rng = np.random.default_rng(0)
    features = rng.normal(0, 1, (1000, 2))
    labels = features @ np.array(LR_TRUE_W) + LR_TRUE_B
    labels += rng.normal(0, 0.01, labels.shape)
    return rng, features, labels, rng.normal(0, 0.01, (2, 1)), np.zeros(1)


def _numpy_sgd(gradients):
    """D2L 3.2's training loop for the numpy-based peers: 3 epochs over a
    fresh permutation in minibatches of 10, an SGD step with the gradients
    of the minibatch's summed loss (`gradients(w, b, X, y)` gives them, or
    None for a forward alone), and each epoch's mean loss."""
    import numpy as np
    rng, features, labels, w, b = _numpy_linreg_start()
    lr, batch_size = 0.03, 10
    for _epoch in range(3):
        indices = rng.permutation(1000)
        for i in range(0, 1000, batch_size):
            batch = indices[i:i + batch_size]
            step = gradients(w, b, features[batch], labels[batch])
            if step is not None:
                gw, gb = step
                w = w - lr * gw / batch_size
                b = b - lr * gb / batch_size
        y_hat = features @ w + b
        _loss = np.mean((y_hat - labels.reshape(y_hat.shape)) ** 2 / 2)
    return [w, b]


def numpy_linreg(p, backward=True):
    """D2L 3.2 with hand-written gradients of the minibatch's summed loss."""
    def gradients(w, b, X, y):
        y_hat = X @ w + b
        r = y_hat - y.reshape(y_hat.shape)
        _loss = r ** 2 / 2                     # forward, as the program has it
        if not backward:
            return None
        return X.T @ r, r.sum(axis=0)          # d sum(loss) / dw, / db
    return Runner(lambda: _numpy_sgd(gradients), 1)


def numpy_elementwise(p, backward=True):
    import numpy as np
    x = elementwise_input(p["size"])

    def run():
        if not backward:
            return [np.sum(np.sin(x) * x + np.exp(-x * x) * 3)]
        s = np.sin(x)
        e = np.exp(-x * x)
        value = np.sum(s * x + e * 3)                  # forward
        g = np.cos(x) * x                              # d(sin(x) x) = cos(x) x + sin(x)
        g += s
        g -= 6 * x * e                                 # d(3 exp(-x^2)) = -6 x exp(-x^2)
        del value
        return [g]
    return Runner(run, 1)


def numpy_matmul(p, backward=True):
    import numpy as np
    v = matmul_inputs(p["size"])
    x, W1, W2 = v["x"], v["W1"], v["W2"]

    def run():
        h = np.tanh(x @ W1)                            # forward
        o = h @ W2
        value = o.sum()
        if not backward:
            return [value]
        go = np.ones_like(o)                           # vjp of sum
        gW2 = h.T @ go
        gh = go @ W2.T
        gz = gh * (1 - h * h)
        gW1 = x.T @ gz
        gx = gz @ W1.T
        return [gx, gW1, gW2]
    return Runner(run, 1)


# ------------------------------------------------------------------ torch

def _torch():
    try:
        import torch
    except ImportError:
        raise Unavailable("torch is not installed") from None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch


def torch_tiny(p):
    torch = _torch()
    x = torch.tensor(TINY_X, dtype=torch.float64, requires_grad=True)
    n = p["iters"]

    def run():
        g = None
        for _ in range(n):
            y = 2 * x ** 2
            y.sum().backward()                         # MXNet: backward of a non-scalar sums
            g = x.grad
            x.grad = None                              # gradcli's default grad_req="write"
        return [g]
    return Runner(run, n)


def torch_control(p):
    torch = _torch()
    a = torch.tensor(CONTROL_A, dtype=torch.float64, requires_grad=True)
    n = p["iters"]

    def f(a):
        b = a
        while torch.linalg.norm(b) < 1000:
            b = b * 2
        if b.sum() > 0:
            c = b
        else:
            c = 100 * b
        return c

    def run():
        g = None
        for _ in range(n):
            c = f(a)
            c.sum().backward()
            g = a.grad
            a.grad = None
        return [g]
    return Runner(run, n)


def torch_linreg(p):
    """D2L 3.2's PyTorch code (synthetic data, minibatch SGD, epoch loss under no_grad)."""
    torch = _torch()
    f64 = torch.float64

    def linreg(X, w, b):
        return torch.matmul(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def run():
        torch.manual_seed(0)
        true_w = torch.tensor(LR_TRUE_W, dtype=f64)
        features = torch.normal(0, 1, (1000, 2), dtype=f64)
        labels = torch.matmul(features, true_w) + LR_TRUE_B
        labels += torch.normal(0, 0.01, labels.shape, dtype=f64)
        w = torch.normal(0, 0.01, size=(2, 1), dtype=f64, requires_grad=True)
        b = torch.zeros(1, dtype=f64, requires_grad=True)
        lr, batch_size = 0.03, 10
        for _epoch in range(3):
            indices = torch.randperm(1000)
            for i in range(0, 1000, batch_size):
                batch = indices[i:i + batch_size]
                X = features[batch]
                y = labels[batch]
                loss = squared_loss(linreg(X, w, b), y)
                loss.sum().backward()
                with torch.no_grad():
                    w -= lr * w.grad / batch_size
                    b -= lr * b.grad / batch_size
                    w.grad.zero_()
                    b.grad.zero_()
            with torch.no_grad():
                _loss = squared_loss(linreg(features, w, b), labels).mean()
        return [w.detach(), b.detach()]
    return Runner(run, 1)


def torch_elementwise(p):
    torch = _torch()
    x = torch.from_numpy(elementwise_input(p["size"])).requires_grad_(True)

    def run():
        s = (torch.sin(x) * x + torch.exp(-x * x) * 3).sum()
        s.backward()
        g = x.grad
        x.grad = None
        return [g]
    return Runner(run, 1)


def torch_matmul(p):
    torch = _torch()
    v = {k: torch.from_numpy(a).requires_grad_(True) for k, a in matmul_inputs(p["size"]).items()}
    x, W1, W2 = v["x"], v["W1"], v["W2"]

    def run():
        s = (torch.tanh(x @ W1) @ W2).sum()
        s.backward()
        gs = [x.grad, W1.grad, W2.grad]
        x.grad = W1.grad = W2.grad = None
        return gs
    return Runner(run, 1)


# --------------------------------------------------------------- autograd

def _autograd():
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        raise Unavailable("autograd is not installed") from None
    return autograd, anp


def _repeated(gradient, n):
    """A runner taking the same gradient n times (loops timed per iteration)."""
    def run():
        g = None
        for _ in range(n):
            g = gradient()
        return [g]
    return Runner(run, n)


def autograd_tiny(p):
    autograd, anp = _autograd()
    x = anp.array(TINY_X)
    n = p["iters"]
    dy = autograd.grad(lambda x: anp.sum(2 * x ** 2))

    return _repeated(lambda: dy(x), n)


def autograd_control(p):
    autograd, anp = _autograd()
    a = anp.array(CONTROL_A)
    n = p["iters"]

    def f(a):
        b = a
        while anp.linalg.norm(b) < 1000:
            b = b * 2
        if anp.sum(b) > 0:
            c = b
        else:
            c = 100 * b
        return c

    df = autograd.grad(lambda a: anp.sum(f(a)))

    return _repeated(lambda: df(a), n)


def autograd_linreg(p):
    autograd, anp = _autograd()

    def batch_loss(w, b, X, y):
        y_hat = anp.dot(X, w) + b
        return anp.sum((y_hat - anp.reshape(y, y_hat.shape)) ** 2 / 2)

    grads = autograd.grad(batch_loss, argnum=(0, 1))
    return Runner(lambda: _numpy_sgd(grads), 1)


def autograd_elementwise(p):
    autograd, anp = _autograd()
    x = elementwise_input(p["size"])
    df = autograd.grad(lambda x: anp.sum(anp.sin(x) * x + anp.exp(-x * x) * 3))
    return Runner(lambda: [df(x)], 1)


def autograd_matmul(p):
    autograd, anp = _autograd()
    v = matmul_inputs(p["size"])
    df = autograd.grad(lambda x, W1, W2: anp.sum(anp.dot(anp.tanh(anp.dot(x, W1)), W2)),
                       argnum=(0, 1, 2))
    return Runner(lambda: list(df(v["x"], v["W1"], v["W2"])), 1)


# ---------------------------------------------------------------- registry

BUILDERS = {("chain", "gradcli"): gradcli_chain}
for _kind, (_by_gradcli, _by_numpy, _by_torch, _by_autograd) in {
        "tiny": (gradcli_tiny, numpy_tiny, torch_tiny, autograd_tiny),
        "control": (gradcli_control, numpy_control, torch_control, autograd_control),
        "linreg": (gradcli_linreg, numpy_linreg, torch_linreg, autograd_linreg),
        "elementwise": (gradcli_elementwise, numpy_elementwise, torch_elementwise,
                        autograd_elementwise),
        "matmul": (gradcli_matmul, numpy_matmul, torch_matmul, autograd_matmul)}.items():
    BUILDERS[(_kind, "gradcli")] = _by_gradcli
    BUILDERS[(_kind, "numpy")] = _by_numpy
    BUILDERS[(_kind, "numpy_fwd")] = (lambda f: lambda p: f(p, backward=False))(_by_numpy)
    BUILDERS[(_kind, "torch")] = _by_torch
    BUILDERS[(_kind, "autograd")] = _by_autograd


def build(kind: str, impl: str, params: dict) -> Runner:
    try:
        builder = BUILDERS[(kind, impl)]
    except KeyError:
        raise Unavailable(f"no {impl} implementation of {kind}") from None
    return builder(params)
