"""Input size: time against the size of what gradcli reads (``--only inputs``).

SPEC section 7: "Input of any size or shape ... is handled in time linear in
its size or refused with a message". Four kinds of input, each timed at four
sizes that double, all in one worker process (``python -m bench.inputs
SPEC_JSON``, started by bench/run.py like the other workers):

- ``json``: a pretty-printed JSON document of n lines, read line by line as
  from stdin (``gradcli.jsonio.read_records``);
- ``program``: a straight-line program of n lines, ``api.load`` + ``api.run``;
- ``literal``: ``x = [...]`` with n numbers (some negative), then
  ``y = sum(x)``, ``api.load`` + ``api.run``;
- ``repl``: an ``if`` block of n lines piped into the REPL
  (``repl.run_stream``, the code path of ``gradcli repl < file``);
- ``parse``: samples/*.ag one after the other, repeated to about n lines,
  parsed only (``api.load``; once a test asserted 2000 lines in under 2 s);
- ``shared``: on the core alone, ``y = y * c`` n times with one ``c`` saved
  by every node, then the backward (once quadratic: recording rescanned the
  savers of ``c``; once a test asserted 30,000 steps in under 10 s).

Each point is the median of up to three runs (one once they add up to two
seconds; ``time.perf_counter``, garbage collector on). The log-log slope of
time against n is 1 for linear work and 2 for quadratic; the report reads a
slope below 1.2 as linear. A kind whose run takes longer than ``BUDGET_S``
is not run at its larger sizes (its row says so), so the whole section
stays within about a minute. It measures and never asserts.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERIES = [
    dict(key="json", unit="line", sizes=(10_000, 20_000, 40_000, 80_000),
         title="pretty-printed JSON document on stdin (`jsonio.read_records`)"),
    dict(key="program", unit="line", sizes=(1_000, 2_000, 4_000, 8_000),
         title="straight-line program, `api.load` + `api.run`"),
    dict(key="literal", unit="element", sizes=(25_000, 50_000, 100_000, 200_000),
         title="list literal of numbers, `api.load` + `api.run`"),
    dict(key="repl", unit="line", sizes=(100, 200, 400, 800),
         title="`if` block piped into the REPL (`repl.run_stream`)"),
    dict(key="parse", unit="line", sizes=(1_000, 2_000, 4_000, 8_000),
         title="the samples repeated, parsed only (`api.load`)"),
    dict(key="shared", unit="step", sizes=(7_500, 15_000, 30_000, 60_000),
         title="core: `y = y * c` n times, one `c` saved by every node, + backward"),
]
REPEATS = (3, 1)        # full, quick: runs per size, fewer once a size takes over ENOUGH_S
ENOUGH_S = 2.0
BUDGET_S = 8.0          # one run slower than this: the larger sizes are skipped
LINEAR = 1.2            # a slope below it reads as linear


# ------------------------------------------------------------ the inputs

def _json_lines(n: int) -> list[str]:
    document = json.dumps({"x": [i * 0.5 for i in range(n - 4)]}, indent=1)
    return document.splitlines(keepends=True)       # "{", ' "x": [', numbers, " ]", "}"


def _program(n: int) -> str:
    return "y = 0.5\n" + "".join(f"y = sin(y) * 0.9 + {i % 7} * 0.01\n" for i in range(n - 1))


def _literal(n: int) -> str:
    numbers = ", ".join(f"{i % 200 - 100}.5" for i in range(n))
    return f"x = [{numbers}]\ny = sum(x)\n"


def _block(n: int) -> list[str]:
    return ["if True:\n"] + [f"    y = {i} * 2\n" for i in range(n - 1)] + ["\n"]


def _samples(n: int) -> str:
    """The samples one after the other, repeated, cut to about n lines."""
    text = "".join(path.read_text(encoding="utf-8")
                   for path in sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.ag")))
    lines = text.splitlines(keepends=True)
    whole, _ = divmod(n, len(lines))
    return text * max(1, whole)


def _shared_weight(n: int):
    import numpy as np

    from gradcli.core import autodiff
    from gradcli.core.tensor import Tensor

    def work():
        x, c = Tensor(np.array(1.0)).attach_grad(), Tensor(np.array(1.00001))
        y = x
        for _ in range(n):
            y = y * c
        autodiff.backward(y)
    return work


def runner(key: str, n: int):
    """A function that does the work once for size n (its input made here,
    outside the timing)."""
    from gradcli import api
    if key == "json":
        from gradcli import jsonio
        lines = _json_lines(n)
        return lambda: list(jsonio.read_records(lines))
    if key in ("program", "literal"):
        source = _program(n) if key == "program" else _literal(n)
        return lambda: api.run(api.load(source), options=api.Options())
    if key == "repl":
        from rich.console import Console

        from gradcli import repl
        lines = _block(n)

        def piped():
            session = repl.Repl(api.Options(), console=Console(file=io.StringIO()),
                                errors=io.StringIO())
            if repl.run_stream(session, lines) != 0:
                raise RuntimeError(f"the block failed: {session.errors.getvalue()[:200]}")
        return piped
    if key == "parse":
        source = _samples(n)
        api.load("x = 1")       # the parser's tables built or loaded outside the timing
        return lambda: api.load(source)
    if key == "shared":
        return _shared_weight(n)
    raise ValueError(f"unknown input kind {key!r}")


def measure(quick: bool) -> dict:
    """{key: [{n, times_s} or {n, skipped}]} for every series, in this process."""
    repeats = REPEATS[1 if quick else 0]
    results = {}
    for series in SERIES:
        points, slow = [], False
        for n in series["sizes"]:
            if slow:
                points.append({"n": n, "skipped": f"a smaller size took over {BUDGET_S:.0f} s"})
                continue
            work = runner(series["key"], n)
            times = []
            while len(times) < repeats and sum(times) < ENOUGH_S:
                started = time.perf_counter()
                work()
                times.append(time.perf_counter() - started)
            slow = times[-1] > BUDGET_S
            points.append({"n": n, "times_s": times})
        results[series["key"]] = points
    return results


# ------------------------------------------------------------ from run.py

def run_module(module: str, spec: dict, timeout: float, env: dict, cwd: Path) -> dict:
    """`python -m module SPEC_JSON` in a worker process, which writes its
    results as JSON to the spec's "out" path; {"error": ...} if it fails."""
    with tempfile.TemporaryDirectory(prefix="gradcli-bench-") as tmp:
        out = Path(tmp) / "results.json"
        try:
            proc = subprocess.run([sys.executable, "-m", module,
                                   json.dumps({**spec, "out": str(out)})], cwd=cwd,
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if not out.exists():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()
            return {"error": f"worker exited {proc.returncode}: "
                             f"{tail[-1] if tail else 'no output'}"}
        return json.loads(out.read_text())


def measure_inputs(quick: bool, timeout: float, env: dict, cwd: Path, log) -> dict:
    """Run `measure` in a worker process; {"error": ...} if it fails."""
    started = time.perf_counter()
    results = run_module("bench.inputs", {"quick": quick}, timeout, env, cwd)
    if "error" in results:
        return results
    for series in SERIES:
        slope_ = series_slope(results.get(series["key"], []))
        log(f"  inputs    {series['key']:<9} slope {'n/a' if slope_ is None else f'{slope_:.2f}'}")
    log(f"  inputs    [{time.perf_counter() - started:.1f} s]")
    return results


def _median(point: dict) -> float | None:
    return statistics.median(point["times_s"]) if point.get("times_s") else None


def series_slope(points: list[dict]) -> float | None:
    from bench.run import slope
    timed = [(p["n"], _median(p)) for p in points if _median(p)]
    return slope([n for n, _ in timed], [t for _, t in timed]) if len(timed) >= 2 else None


def verdict(s: float | None) -> str:
    if s is None:
        return "n/a (fewer than two sizes measured)"
    if s < LINEAR:
        return "linear"
    return "about quadratic: NOT linear" if s >= 1.7 else "worse than linear: NOT linear"


def inputs_section(results: dict) -> list[str]:
    """The report's lines for the input-size checks."""
    from bench.run import sig, table
    if "error" in results:
        return [f"- error: {results['error']}"]
    sizes = max(len(s["sizes"]) for s in SERIES)
    lines = ["Time against the size of the input (SPEC §7: linear in its size). Each kind at "
             "sizes that double, in one process; each cell is the size, the median time of its "
             "runs and that time per unit. Slope: least squares of log(time) against "
             f"log(n), 1 for linear work, 2 for quadratic; below {LINEAR} reads as linear. "
             f"Sizes after a run over {BUDGET_S:.0f} s are skipped (`—`).", ""]
    rows = []
    for series in SERIES:
        points = results.get(series["key"], [])
        cells = []
        for p in points:
            t = _median(p)
            cells.append("—" if t is None else
                         f"{p['n']:,}: {sig(t)} s ({sig(t / p['n'] * 1e6)} µs/{series['unit']})")
        cells += [""] * (sizes - len(cells))
        s = series_slope(points)
        rows.append([series["title"], *cells, "n/a" if s is None else f"{s:.2f}", verdict(s)])
    lines += table(["input", *[f"size {i + 1}" for i in range(sizes)], "slope", "verdict"], rows)
    return lines


def worker_main(measure, argv: list[str]) -> int:
    """A worker's entry point: measure(quick), written as JSON to spec["out"]."""
    spec = json.loads(argv[0])
    results = measure(spec.get("quick", False))
    Path(spec["out"]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(measure, sys.argv[1:]))
