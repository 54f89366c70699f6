"""Forward mode's memory (``--only forward``): issue 14's target.

"A 200,000-step loop over a 1000-vector in forward mode must stay within a
small constant of the forward pass alone." bench/workloads/forward.ag takes
n steps `y = sin(y)` on a 1000-vector, in one of three modes: the forward
pass alone, `jvp` (forward mode), and `backward` (reverse mode, for
contrast: its tape keeps every step's input, 8 kB a step). All of it runs in
one worker process (``python -m bench.forward_mode SPEC_JSON``): per n and
mode one timed run and one run under tracemalloc (the peak of bytes
allocated, numpy's buffers included). Reverse mode stops at n = 20,000 (at
200,000 its tape alone would be 1.6 GB). It measures and never asserts.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from pathlib import Path

NS = (2_000, 20_000, 200_000)
QUICK_NS = (2_000, 20_000)
MODES = {0: "forward pass alone", 1: "forward mode (jvp)", 2: "reverse mode (backward)"}
REVERSE_UP_TO = 20_000
TARGET = 2.0        # forward mode's peak over the forward pass's, at the largest n


def measure(quick: bool) -> dict:
    from gradcli import api
    program = api.load((Path(__file__).parent / "workloads" / "forward.ag").read_text())
    results: dict = {}
    for n in QUICK_NS if quick else NS:
        for mode in MODES:
            if mode == 2 and n > REVERSE_UP_TO:
                continue

            def run():
                api.run(program, {"n": n, "mode": mode}, api.Options())
            gc.collect()
            started = time.perf_counter()
            run()
            seconds = time.perf_counter() - started
            gc.collect()
            tracemalloc.start()
            tracemalloc.reset_peak()
            run()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            results[f"{n}/{mode}"] = {"n": n, "mode": mode, "seconds": seconds,
                                      "peak_bytes": peak}
    return results


def measure_forward(quick: bool, timeout: float, env: dict, cwd: Path, log) -> dict:
    """Run `measure` in a worker process; {"error": ...} if it fails."""
    from bench.inputs import run_module
    started = time.perf_counter()
    results = run_module("bench.forward_mode", {"quick": quick}, timeout, env, cwd)
    for point in results.values() if "error" not in results else ():
        log(f"  forward   n={point['n']:<8} {MODES[point['mode']]:<24} "
            f"{point['seconds']:.2f} s, peak {point['peak_bytes'] / 1e6:.2f} MB")
    log(f"  forward   [{time.perf_counter() - started:.1f} s]")
    return results


def ratio(results: dict, n: int) -> float | None:
    """Forward mode's peak over the forward pass's at n."""
    fwd, jvp = results.get(f"{n}/0"), results.get(f"{n}/1")
    if not fwd or not jvp or not fwd["peak_bytes"]:
        return None
    return jvp["peak_bytes"] / fwd["peak_bytes"]


def forward_section(results: dict) -> list[str]:
    """The report's lines: peaks and times per n and mode, and the verdict."""
    from bench.run import sig, table
    if "error" in results:
        return [f"- error: {results['error']}"]
    lines = ["`y = sin(y)` n times on a 1000-vector (bench/workloads/forward.ag) as a whole "
             "program, one process; per n and mode one timed run and the tracemalloc peak of "
             f"another. Reverse mode is measured up to n = {REVERSE_UP_TO:,} only (its tape "
             "grows by 8 kB a step).", ""]
    rows = []
    for n in sorted({p["n"] for p in results.values()}):
        cells = []
        for mode in MODES:
            p = results.get(f"{n}/{mode}")
            cells.append("—" if p is None else
                         f"{sig(p['seconds'])} s, {p['peak_bytes'] / 1e6:.2f} MB")
        r = ratio(results, n)
        rows.append([f"{n:,}", *cells, "n/a" if r is None else f"{r:.2f}x"])
    lines += table(["n steps", *MODES.values(), "forward mode peak / forward pass peak"], rows)
    largest = max(p["n"] for p in results.values())
    r = ratio(results, largest)
    met = r is not None and r <= TARGET
    lines += ["", f"- target: forward mode's peak within {TARGET:g}x the forward pass alone at "
                  f"n = {largest:,}: {'n/a' if r is None else f'{r:.2f}x'} "
                  f"({'met' if met else 'NOT met'})"]
    return lines


if __name__ == "__main__":
    from bench.inputs import worker_main
    sys.exit(worker_main(measure, sys.argv[1:]))
