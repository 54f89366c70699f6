"""One measurement in its own process: ``python -m bench.worker SPEC_JSON``.

The harness starts one worker per (workload, implementation), with the
thread-count variables already in its environment, so numpy, BLAS and
torch start single-threaded. The worker:

1. builds the implementation (imports, parsing, inputs: not timed);
2. runs it once while reading the kernel's peak-RSS counter: the counter is
   reset (``/proc/self/clear_refs`` = 5) just before, and ``VmHWM - VmRSS
   before`` is the run's peak resident growth. Done first, in a fresh
   process, so memory kept by the allocator from earlier runs can't hide it;
3. warms up, then times ``repeats`` runs with ``time.perf_counter``
   (garbage collector left on: that is what a user pays);
4. runs once more under ``tracemalloc``: the peak of bytes allocated
   through Python's allocators during the run. numpy reports its array
   buffers to tracemalloc, so for gradcli, numpy and autograd this counts
   every array and every Python object, exactly and repeatably; PyTorch's
   allocator does not report there, so for torch only the RSS figure means
   anything.

It writes a JSON object to the path given in the spec.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback


def _status(key: str) -> int | None:
    """A /proc/self/status field in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _checksum(grads) -> float | None:
    import numpy as np
    total = 0.0
    try:
        for g in grads or []:
            if g is None:
                return None
            if hasattr(g, "detach"):          # torch
                g = g.detach().numpy()
            total += float(np.sum(np.asarray(g, dtype=np.float64)))
    except Exception:
        return None
    return total


def measure_pair(spec: dict) -> dict:
    """The complexity check: the chain program without and with its backward,
    alternated in one process so that both see the same machine load; the
    backward's cost is the median of the per-pair differences."""
    from bench.suite import build
    params = spec["params"]
    fwd = build("chain", "gradcli", {**params, "backward": False})
    both = build("chain", "gradcli", {**params, "backward": True})
    if spec.get("gc_off"):
        gc.disable()
    out: dict = {"workload": spec["workload"], "impl": "gradcli", "params": params, "per": 1}
    fwd.run()
    both.run()
    t_fwd, t_both, diffs = [], [], []
    for i in range(spec["repeats"]):
        order = (fwd, both) if i % 2 == 0 else (both, fwd)
        times = {}
        for runner in order:
            t0 = time.perf_counter()
            runner.run()
            times[id(runner)] = time.perf_counter() - t0
        t_fwd.append(times[id(fwd)])
        t_both.append(times[id(both)])
        diffs.append(times[id(both)] - times[id(fwd)])
    out.update(times_s=t_both, fwd_times_s=t_fwd, bwd_diffs_s=diffs)
    if spec.get("memory", True):
        import tracemalloc
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        both.run()
        out["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


def measure(spec: dict) -> dict:
    from bench.suite import Unavailable, build
    if spec["kind"] == "chain_pair":
        return measure_pair(spec)
    out: dict = {"workload": spec["workload"], "impl": spec["impl"], "params": spec["params"]}
    try:
        runner = build(spec["kind"], spec["impl"], spec["params"])
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        return out
    out["per"] = runner.per
    if spec.get("gc_off"):                    # diagnostic runs only (complexity check)
        gc.disable()
    if spec.get("profile"):
        return profile(runner, spec, out)

    # 2. peak RSS growth of the first run, in this fresh process
    gc.collect()
    rss_before = _status("VmRSS")
    if spec.get("memory", True) and rss_before is not None and _reset_peak_rss():
        t0 = time.perf_counter()
        runner.run()
        first = time.perf_counter() - t0
        hwm = _status("VmHWM")
        out["rss_peak_bytes"] = max(0, hwm - rss_before) if hwm is not None else None
    else:
        t0 = time.perf_counter()
        runner.run()
        first = time.perf_counter() - t0
    out["first_run_s"] = first

    # 3. warm-up and timed repeats
    warm_until = time.perf_counter() + spec.get("warmup_s", 0.2)
    for _ in range(spec.get("warmup", 1)):
        runner.run()
        if time.perf_counter() > warm_until:
            break
    times = []
    grads = None
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        grads = runner.run()
        times.append(time.perf_counter() - t0)
    out["times_s"] = times
    out["checksum"] = _checksum(grads)

    # 4. tracemalloc peak
    if spec.get("memory", True):
        import tracemalloc
        grads = None
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        runner.run()
        out["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out["note"] = runner.note
    out["threads"] = _threads(spec["impl"])
    return out


def profile(runner, spec: dict, out: dict) -> dict:
    """cProfile of one run after a warm-up run: the top functions, as text."""
    import cProfile
    import io
    import pstats
    runner.run()
    prof = cProfile.Profile()
    prof.enable()
    runner.run()
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text).strip_dirs()
    for key in ("tottime", "cumulative"):
        text.write(f"--- sorted by {key} ---\n")
        stats.sort_stats(key).print_stats(spec.get("profile_top", 25))
    out["profile"] = text.getvalue()
    out["note"] = runner.note
    return out


def _threads(impl: str) -> dict:
    info = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "MKL_NUM_THREADS")}
    if impl == "torch" and "torch" in sys.modules:
        info["torch.get_num_threads"] = sys.modules["torch"].get_num_threads()
    return info


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    try:
        result = measure(spec)
    except BaseException as exc:              # report, never crash the harness
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        result = {"workload": spec.get("workload"), "impl": spec.get("impl"),
                  "error": f"{type(exc).__name__}: {lines[0] if lines else ''}".strip(),
                  "traceback": traceback.format_exc(limit=6)}
    with open(spec["out"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
