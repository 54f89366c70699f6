"""gradcli's benchmark harness: ``python -m bench`` (or ``python bench/run.py``).

Runs each workload as a ``.ag`` program through gradcli and, in the same
run, in plain numpy (forward only, and forward + hand-written backward),
PyTorch eager and HIPS autograd when they are installed; prints a table of
medians, the ratios gradcli/peer, peak memory, the issue's targets and the
complexity checks; ``--write`` puts the same report in BENCHMARKS.md.

It measures and never asserts: the exit status is 0 whatever the numbers
(2 for a usage error). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):                      # `python bench/run.py`
    sys.path.insert(0, str(ROOT))

from bench import forward_mode, inputs  # noqa: E402 - after the path is set

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}

IMPLS = ["gradcli", "numpy_fwd", "numpy", "torch", "autograd"]
IMPL_LABEL = {
    "gradcli": "gradcli",
    "numpy_fwd": "numpy fwd",
    "numpy": "numpy fwd+bwd (hand)",
    "torch": "PyTorch",
    "autograd": "autograd",
}
PEER_MODULE = {"torch": "torch", "autograd": "autograd"}

# key, kind (suite builder), title, unit, params (full, quick), repeats (full, quick), warmup
WORKLOADS = [
    dict(key="tiny", kind="tiny", unit="µs",
         title="tiny op: `y = 2*x**2` on 2x2, backward, read grad (per iteration)",
         params=({"iters": 2000}, {"iters": 500}), repeats=(15, 5), warmup=3),
    dict(key="control", kind="control", unit="µs",
         title="control flow (SPEC §8 ex. 6, 3-vector), per call incl. backward",
         params=({"iters": 300}, {"iters": 100}), repeats=(15, 5), warmup=3),
    dict(key="linreg", kind="linreg", unit="ms",
         title="linear regression (SPEC §8 ex. 13): 1000 samples, batch 10, 3 epochs",
         params=({}, {}), repeats=(11, 3), warmup=2),
    dict(key="elem_1e6", kind="elementwise", unit="ms",
         title="`sum(sin(x)*x + exp(-x*x)*3)` fwd+bwd, 1e6 float64",
         params=({"size": 10**6}, {"size": 10**6}), repeats=(15, 5), warmup=2),
    dict(key="elem_1e7", kind="elementwise", unit="ms",
         title="same, 1e7 float64",
         params=({"size": 10**7}, {"size": 10**7}), repeats=(7, 2), warmup=0),
    dict(key="matmul", kind="matmul", unit="ms",
         title="`sum(tanh(x@W1)@W2)`, 512x512, fwd+bwd (grads of x, W1, W2)",
         params=({"size": 512}, {"size": 512}), repeats=(15, 5), warmup=2),
]
WORKLOAD_KEYS = [w["key"] for w in WORKLOADS]

COLD_COMMANDS = {
    "gradcli": None,     # the CLI: filled in by cold_command()
    "numpy": ("import numpy as np; x = np.array([1.0, 2.0, 3.0]); "
              "print((2 * x).tolist())"),
    "torch": ("import torch; x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, "
              "requires_grad=True); (x ** 2).sum().backward(); print(x.grad.tolist())"),
    "autograd": ("import autograd.numpy as np; from autograd import grad; "
                 "print(grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0, 3.0])).tolist())"),
}
COLD_LABEL = {"gradcli": "gradcli CLI", "numpy": "numpy script",
              "torch": "PyTorch", "autograd": "autograd"}
GRADCLI_COLD_ARGS = ["grad", "-e", "sum(x**2)", "--set", "x=[1,2,3]", "--json"]

CHAIN_NS = [1_000, 10_000, 100_000]
CHAIN_REPEATS = ({1_000: 31, 10_000: 11, 100_000: 5}, {1_000: 7, 10_000: 3, 100_000: 1})
COLD_REPEATS = (20, 5)


# ------------------------------------------------------------------ running

def child_env() -> dict:
    env = dict(os.environ)
    env.update(THREAD_ENV)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONSTARTUP", None)
    return env


def run_worker(spec: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="gradcli-bench-") as tmp:
        out = Path(tmp) / "result.json"
        spec = {**spec, "out": str(out)}
        try:
            proc = subprocess.run([sys.executable, "-m", "bench.worker", json.dumps(spec)],
                                  cwd=ROOT, env=child_env(), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if out.exists():
            return json.loads(out.read_text())
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()
        return {"error": f"worker exited {proc.returncode}: {tail[-1] if tail else 'no output'}"}


def peer_installed(impl: str) -> bool:
    module = PEER_MODULE.get(impl)
    return module is None or importlib.util.find_spec(module) is not None


def measure_workloads(selected, impls, quick, repeats_override, timeout, log):
    results = {}
    for w in WORKLOADS:
        if w["key"] not in selected:
            continue
        params = w["params"][1 if quick else 0]
        repeats = repeats_override or w["repeats"][1 if quick else 0]
        results[w["key"]] = {}
        for impl in impls:
            if not peer_installed(impl):
                results[w["key"]][impl] = {"unavailable": f"{PEER_MODULE[impl]} is not installed"}
                continue
            spec = {"workload": w["key"], "kind": w["kind"], "impl": impl, "params": params,
                    "repeats": repeats, "warmup": w["warmup"], "memory": True}
            t0 = time.perf_counter()
            r = run_worker(spec, timeout)
            results[w["key"]][impl] = r
            log(f"  {w['key']:<9} {IMPL_LABEL[impl]:<22} {_brief(r, w['unit'])}"
                f"  [{time.perf_counter() - t0:.1f} s]")
    return results


def _brief(r: dict, unit: str) -> str:
    if "error" in r:
        return "error: " + r["error"]
    if "unavailable" in r:
        return "n/a (" + r["unavailable"] + ")"
    return f"{fmt(median_time(r), unit)} {unit}"


def cold_command(impl: str):
    if impl == "gradcli":
        exe = Path(sys.executable).parent / "gradcli"
        exe = str(exe) if exe.exists() else shutil.which("gradcli")
        return [exe, *GRADCLI_COLD_ARGS] if exe else None
    return [sys.executable, "-c", COLD_COMMANDS[impl]]


def _cold_once(cmd, env):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (elapsed, usage.ru_maxrss * 1024, proc.returncode,
                out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def measure_cold(quick, repeats_override, log, impls=IMPLS):
    repeats = repeats_override or COLD_REPEATS[1 if quick else 0]
    env = child_env()
    # A normal install has bytecode caches (pip compiles them); an editable one
    # gets them on first import, unless this is set, as it is on some machines:
    # then every cold start would compile gradcli from source. The discarded
    # first run below writes them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results = {}
    for impl in [i for i in ("gradcli", "numpy", "torch", "autograd") if i in impls]:
        if not peer_installed(impl):
            results[impl] = {"unavailable": f"{PEER_MODULE[impl]} is not installed"}
            continue
        cmd = cold_command(impl)
        if cmd is None:
            results[impl] = {"error": "no gradcli executable found next to this Python or on PATH"}
            continue
        r = {"command": cmd}
        # one discarded run first: bytecode caches written, files in the page cache
        elapsed, rss, code, out, err = _cold_once(cmd, env)
        if code != 0:
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            r["error"] = f"exit {code}: {lines[-1] if lines else 'no output'}"
        else:
            if impl == "gradcli":
                r["note"] = _check_gradcli_output(out)
            times, rsses = [], []
            for _ in range(repeats):
                elapsed, rss, code, out, err = _cold_once(cmd, env)
                times.append(elapsed)
                rsses.append(rss)
            r["times_s"] = times
            r["per"] = 1
            r["maxrss_bytes"] = statistics.median(rsses)
        results[impl] = r
        log(f"  cold      {COLD_LABEL[impl]:<22} {_brief(r, 'ms')}")
    return results


def _check_gradcli_output(text: str) -> str:
    try:
        data = json.loads(text)
        grads = data["grads"]["x"]
        if [float(g) for g in grads] != [2.0, 4.0, 6.0]:
            return f"unexpected gradient in the output: {grads}"
    except (ValueError, KeyError, TypeError):
        return "output is not the expected JSON: " + text.strip()[:80]
    return ""


def measure_chain(quick, repeats_override, timeout, log):
    results = {}
    for n in CHAIN_NS:
        results[n] = {}
        for gc_off in (False, True):
            repeats = repeats_override or CHAIN_REPEATS[1 if quick else 0][n]
            spec = {"workload": f"chain_{n}", "kind": "chain_pair", "impl": "gradcli",
                    "params": {"n": n}, "repeats": repeats, "memory": not gc_off,
                    "gc_off": gc_off}
            t0 = time.perf_counter()
            r = run_worker(spec, timeout)
            results[n]["gc_off" if gc_off else "gc_on"] = r
            if ok(r):
                brief = (f"fwd {fmt(statistics.median(r['fwd_times_s']), 'ms')} ms, "
                         f"bwd {fmt(statistics.median(r['bwd_diffs_s']), 'ms')} ms")
            else:
                brief = _brief(r, "ms")
            log(f"  chain     n={n:<8} {'gc off' if gc_off else 'gc on':<12} {brief}"
                f"  [{time.perf_counter() - t0:.1f} s]")
    return results


# ------------------------------------------------------------------ numbers

SCALE = {"µs": 1e6, "ms": 1e3, "s": 1.0}


def ok(r) -> bool:
    return bool(r) and "times_s" in r and "error" not in r


def median_time(r) -> float | None:
    """Median seconds per iteration (per run when the workload is a single run)."""
    if not ok(r):
        return None
    return statistics.median(r["times_s"]) / r.get("per", 1)


def fmt(seconds, unit) -> str:
    if seconds is None:
        return "n/a"
    return sig(seconds * SCALE[unit])


def sig(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(x) -> str:
    return "n/a" if x is None else f"{x:.2f}×"


def mb(b) -> str:
    return "n/a" if b is None else sig(b / 2**20)


NOISY = 0.15     # interquartile range / median above which a cell is marked


def spread(r) -> float | None:
    """Interquartile range of the repeats over their median."""
    if not ok(r) or len(r["times_s"]) < 4:
        return None
    q1, _, q3 = statistics.quantiles(r["times_s"], n=4)
    med = statistics.median(r["times_s"])
    return (q3 - q1) / med if med else None


def cell(r, unit) -> str:
    if r is None:
        return "—"
    if "unavailable" in r:
        return "n/a"
    if "error" in r:
        return "error"
    s = spread(r)
    return fmt(median_time(r), unit) + (" ~" if s is not None and s > NOISY else "")


# ------------------------------------------------------------------ report

def table(header, rows, left=1) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def time_table(results, cold, impls):
    header = ["workload", "unit"] + [IMPL_LABEL[i] for i in impls]
    ratio_peers = [i for i in ("numpy", "torch", "autograd") if i in impls]
    if "gradcli" in impls:
        header += [f"gradcli / {IMPL_LABEL[p].split(' (')[0]}" for p in ratio_peers]
    rows = []
    for w in WORKLOADS:
        if w["key"] not in results:
            continue
        res = results[w["key"]]
        row = [w["title"], w["unit"] + ("/iter" if w["kind"] in ("tiny", "control") else "")]
        row += [cell(res.get(i), w["unit"]) for i in impls]
        if "gradcli" in impls:
            g = median_time(res.get("gradcli"))
            row += [fmt_ratio(ratio(g, median_time(res.get(p)))) for p in ratio_peers]
        rows.append(row)
    if cold:
        row = ["cold process to first gradient, whole process (numpy column: a numpy script)", "ms"]
        cold_cols = {"gradcli": "gradcli", "numpy_fwd": None, "numpy": "numpy",
                     "torch": "torch", "autograd": "autograd"}
        for i in impls:
            src = cold_cols[i]
            row.append("—" if src is None else cell(cold.get(src), "ms"))
        if "gradcli" in impls:
            g = median_time(cold.get("gradcli"))
            row += [fmt_ratio(ratio(g, median_time(cold.get(p)))) for p in ratio_peers]
        rows.append(row)
    return table(header, rows)


def memory_tables(results, cold, impls):
    mem_impls = [i for i in impls if i != "numpy_fwd"] + (["numpy_fwd"] if "numpy_fwd" in impls else [])
    lines = ["Peak bytes allocated during one run, by tracemalloc (MB). Exact for numpy-backed "
             "code (numpy reports its buffers); PyTorch's allocator does not report there, so its "
             "column is n/a. Inputs allocated before the run are not counted.", ""]
    header = ["workload"] + [IMPL_LABEL[i] for i in mem_impls]
    if "gradcli" in impls and "numpy" in impls:
        header.append("gradcli / numpy (hand)")
    rows = []
    for w in WORKLOADS:
        if w["key"] not in results:
            continue
        res = results[w["key"]]
        row = [w["key"]]
        for i in mem_impls:
            r = res.get(i)
            row.append("n/a" if i == "torch" or not ok(r) else mb(r.get("tracemalloc_peak_bytes")))
        if "gradcli" in impls and "numpy" in impls:
            floor = _tm(res.get("numpy"))        # a ratio of two tiny numbers says nothing
            row.append(fmt_ratio(ratio(_tm(res.get("gradcli")), floor))
                       if floor and floor >= 2**20 else "—")
        rows.append(row)
    lines += table(header, rows)
    lines += ["", "Peak resident-set growth of the first run in a fresh process (MB): "
              "VmHWM after the run minus VmRSS before it, the peak counter reset just before "
              "(`/proc/self/clear_refs`). Includes one-time warm-up allocations; the only "
              "figure for PyTorch. Cold start: the whole process's ru_maxrss.", ""]
    header = ["workload"] + [IMPL_LABEL[i] for i in mem_impls]
    rows = []
    for w in WORKLOADS:
        if w["key"] not in results:
            continue
        res = results[w["key"]]
        rows.append([w["key"]] + [mb(res[i].get("rss_peak_bytes")) if ok(res.get(i)) else "n/a"
                                  for i in mem_impls])
    if cold:
        cold_cols = {"gradcli": "gradcli", "numpy": "numpy", "torch": "torch",
                     "autograd": "autograd", "numpy_fwd": None}
        row = ["cold (whole process)"]
        for i in mem_impls:
            src = cold_cols[i]
            row.append("—" if src is None else
                       (mb(cold[src].get("maxrss_bytes")) if ok(cold.get(src)) else "n/a"))
        rows.append(row)
    lines += table(header, rows)
    return lines


def _tm(r):
    return r.get("tracemalloc_peak_bytes") if ok(r) else None


def targets(results, cold):
    """(id, target, measured, threshold, met) rows for the issue's targets."""
    def t(key, impl):
        return median_time(results.get(key, {}).get(impl))

    def m(key, impl):
        return _tm(results.get(key, {}).get(impl))

    rows = []

    def add(ident, text, value, limit):
        status = "n/a" if value is None else ("met" if value <= limit else "not met")
        rows.append([ident, text, fmt_ratio(value), f"≤ {limit:.1f}×", status])

    def vs_torch(key):
        return ratio(t(key, "gradcli"), t(key, "torch"))

    if "tiny" in results:
        add("1a", "tiny-op loop per iteration, gradcli / PyTorch", vs_torch("tiny"), 1.0)
    if "control" in results:
        add("1b", "control-flow call, gradcli / PyTorch", vs_torch("control"), 1.0)
    if "linreg" in results:
        add("2", "linear regression, gradcli / PyTorch", vs_torch("linreg"), 1.0)
    for key, label in (("elem_1e6", "1e6"), ("elem_1e7", "1e7")):
        if key in results:
            add("3", f"elementwise chain {label} fwd+bwd time, gradcli / numpy hand",
                ratio(t(key, "gradcli"), t(key, "numpy")), 1.1)
            add("3", f"elementwise chain {label} peak memory, gradcli / numpy hand",
                ratio(m(key, "gradcli"), m(key, "numpy")), 1.5)
    if "matmul" in results:
        add("3", "matmul chain fwd+bwd time, gradcli / numpy hand",
            ratio(t("matmul", "gradcli"), t("matmul", "numpy")), 1.1)
        add("3", "matmul chain peak memory, gradcli / numpy hand",
            ratio(m("matmul", "gradcli"), m("matmul", "numpy")), 1.5)
    if cold:
        add("4", "cold `gradcli grad -e 'sum(x**2)' --set x=[1,2,3] --json` / cold autograd process",
            ratio(median_time(cold.get("gradcli")), median_time(cold.get("autograd"))), 1.5)
    return rows


def slope(xs, ys):
    """Least-squares slope of log(y) against log(x)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


def complexity_section(chain):
    lines = ["A chain of n recorded ops (`y = sin(y)` n times on a 100-element vector, then "
             "`sum`; bench/workloads/chain.ag), run as a whole program without and with its "
             "`backward`, the two alternated in one process; backward time = median of the "
             "per-pair differences. Memory = tracemalloc peak of the run with backward. The "
             "`gc off` columns repeat this with Python's cyclic garbage collector disabled, to "
             "tell the algorithm's cost from the collector's (which traverses every live "
             "graph object, so its cost grows with the graph).", ""]
    rows = []
    ns, bwds, mems, ns_off, bwds_off = [], [], [], [], []

    def med(r, key):
        return statistics.median(r[key]) if ok(r) else None

    for n, v in chain.items():
        on, off = v.get("gc_on"), v.get("gc_off")
        tf, tfb, bwd = med(on, "fwd_times_s"), med(on, "times_s"), med(on, "bwd_diffs_s")
        tf0, bwd0 = med(off, "fwd_times_s"), med(off, "bwd_diffs_s")
        mem = _tm(on)
        if bwd and bwd > 0 and mem:
            ns.append(n)
            bwds.append(bwd)
            mems.append(mem)
        if bwd0 and bwd0 > 0:
            ns_off.append(n)
            bwds_off.append(bwd0)
        rows.append([f"{n:,}", fmt(tf, "ms"), fmt(tfb, "ms"), fmt(bwd, "ms"), _per_op(bwd, n),
                     _per_op(bwd0, n), _per_op(tf, n), _per_op(tf0, n), mb(mem),
                     "n/a" if mem is None else f"{mem / n:,.0f}"])
    lines += table(["n ops", "fwd ms", "fwd+bwd ms", "bwd ms", "bwd µs/op", "bwd µs/op, gc off",
                    "fwd µs/op", "fwd µs/op, gc off", "peak MB", "peak bytes/op"], rows)
    errors = [f"n={n} {k}: {r.get('error')}" for n, v in chain.items()
              for k, r in v.items() if r and "error" in r]
    if errors:
        lines += [""] + [f"- error: {e}" for e in errors]
    s_t, s_t0, s_m = slope(ns, bwds), slope(ns_off, bwds_off), slope(ns, mems)
    lines.append("")
    lines.append(_verdict("backward time", s_t, "backward costs O(n) in the number of recorded ops",
                          _growth(ns, bwds)))
    lines.append(_verdict("backward time with the collector off", s_t0,
                          "the same with gc off (the algorithm alone)", _growth(ns_off, bwds_off)))
    lines.append(_verdict("peak memory", s_m, "memory for a chain of n ops grows linearly",
                          _growth(ns, mems)))
    return lines, s_t, s_m


def _per_op(seconds, n):
    return "n/a" if seconds is None else sig(seconds / n * 1e6)


def _growth(ns, values):
    if len(ns) < 2:
        return float("nan")
    return (values[-1] / ns[-1]) / (values[0] / ns[0])


def _verdict(what, s, claim, growth):
    if s is None:
        return f"- {claim}: n/a (not enough points)"
    holds = 0.85 <= s <= 1.15
    return (f"- {claim}: log-log slope of {what} against n = {s:.2f} "
            f"({'holds' if holds else 'does NOT hold'}: linear is 1.00, "
            f"accepted 0.85–1.15; per-op cost at the largest n is {growth:.2f}× "
            "that at the smallest)")


def notes(results, cold):
    out = []
    for w in WORKLOADS:
        res = results.get(w["key"])
        if not res:
            continue
        for impl, r in res.items():
            if r.get("error"):
                out.append(f"{w['key']} / {IMPL_LABEL[impl]}: error: {r['error']}")
            elif r.get("note"):
                out.append(f"{w['key']} / {IMPL_LABEL[impl]}: {r['note']}")
        if w["kind"] == "linreg":
            # random streams differ between libraries: check the trained model
            # instead, sum(w) + b against sum(true_w) + true_b = 2.8
            for impl in ("gradcli", "numpy", "torch", "autograd"):
                c = res.get(impl, {}).get("checksum")
                if ok(res.get(impl)) and c is not None and abs(c - 2.8) > 0.02:
                    out.append(f"{w['key']} / {IMPL_LABEL[impl]}: trained sum(w) + b = {c:.4f}, "
                               "expected 2.8 ± 0.02")
            continue
        ref = res.get("numpy", {}).get("checksum")
        for impl in ("gradcli", "torch", "autograd"):
            c = res.get(impl, {}).get("checksum")
            if ok(res.get(impl)) and ref is not None and c is not None and \
                    not math.isclose(c, ref, rel_tol=1e-6, abs_tol=1e-9):
                out.append(f"{w['key']} / {IMPL_LABEL[impl]}: gradient checksum {c!r} "
                           f"differs from numpy's {ref!r}")
    for impl, r in (cold or {}).items():
        if r.get("error"):
            out.append(f"cold / {COLD_LABEL[impl]}: n/a: {r['error']}")
        elif r.get("note"):
            out.append(f"cold / {COLD_LABEL[impl]}: {r['note']}")
    return out


def machine_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = info.get("cpu") or platform.processor() or platform.machine()
    info["cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        info["memory"] = "?"
    info["os"] = f"{platform.system()} {platform.release()} ({platform.machine()})"
    info["python"] = platform.python_version()
    try:
        import sysconfig
        flags = sysconfig.get_config_var("CONFIG_ARGS") or ""
        info["python"] += (" (built with PGO/LTO)" if "--enable-optimizations" in flags
                           else " (built without PGO/LTO)")
    except Exception:
        pass
    versions = {}
    for dist in ("gradcli", "numpy", "torch", "autograd", "lark"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    info["versions"] = versions
    try:
        import numpy as np
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        info["blas"] = "?"
    info["git"] = _git_state()
    info["coretype"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                        if k in os.environ}
    return info


def _git_state():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "gradcli", "grammar"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        if not head:
            return "?"
        return head + (" + uncommitted changes in gradcli/ or grammar/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return ["?"]


def report(args, info, results, cold, chain, impls, started, load_before, load_after, elapsed,
           sizes=None, forward=None):
    lines = ["# Benchmarks", "",
             f"Produced by `{args.command_line}` on {started:%Y-%m-%d %H:%M} UTC in "
             f"{elapsed / 60:.1f} min (harness: bench/, see bench/README.md). "
             "Regenerate with `python -m bench --write`; do not edit by hand.", "",
             "## Machine", "",
             f"- CPU: {info['cpu']}, {info['cores']} cores; memory {info['memory']}; {info['os']}",
             f"- Python {info['python']}; numpy {info['versions']['numpy']} ({info['blas']}); "
             f"PyTorch {info['versions']['torch']}; HIPS autograd {info['versions']['autograd']}; "
             f"lark {info['versions']['lark']}",
             f"- gradcli {info['versions']['gradcli']} at commit {info['git']}",
             "- every measurement in its own process with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = "
             "MKL_NUM_THREADS = 1 set before numpy is imported, and torch.set_num_threads(1)",
             f"- load average before / after: {' '.join(load_before)} / {' '.join(load_after)} "
             "(the machine is shared: read small differences with care)"]
    if info["coretype"]:
        lines.append(f"- note: {info['coretype']} set in the environment (may slow numpy's BLAS)")
    reps = "; ".join(f"{w['key']} {args.repeats or w['repeats'][1 if args.quick else 0]}"
                     for w in WORKLOADS if w["key"] in results)
    if not (results or cold):           # e.g. --only chain,inputs
        lines += _sections_after(chain, sizes, results, cold, forward)
        return "\n".join(lines) + "\n"
    lines += ["", "## Time", "",
              f"Medians over repeats ({reps}; cold start "
              f"{args.repeats or COLD_REPEATS[1 if args.quick else 0]}), after warm-up. "
              "Loops (tiny, control) are one program of "
              + ", ".join(f"{w['key']} {w['params'][1 if args.quick else 0]['iters']}"
                          for w in WORKLOADS if w["kind"] in ("tiny", "control"))
              + " iterations, and the table gives the whole program's time divided by the "
              "iterations (the loop statement included; for gradcli also `api.run`'s setup, "
              "amortised). `numpy fwd` is the forward alone; `numpy fwd+bwd (hand)` adds a "
              "hand-written backward and is the floor the ratios use. Ratios > 1 mean gradcli "
              f"is slower. `~` marks a noisy cell: its repeats' interquartile range exceeds "
              f"{NOISY:.0%} of the median (the machine was busy; rerun it with `--only`).", ""]
    lines += time_table(results, cold, impls)
    lines += ["", "## Peak memory", ""]
    lines += memory_tables(results, cold, impls)
    lines += ["", "## Targets (issue: performance harness)", "",
              "Each a ratio of two columns above, measured side by side in this run."
              " `met` / `not met` is a reading, not an assertion.", ""]
    lines += table(["#", "target", "measured", "goal", "status"], targets(results, cold), left=2)
    lines += _sections_after(chain, sizes, results, cold, forward)
    return "\n".join(lines) + "\n"


def _sections_after(chain, sizes, results, cold, forward=None) -> list[str]:
    """Complexity, forward mode, input size, notes and method."""
    lines = []
    if chain:
        lines += ["", "## Complexity", ""]
        clines, _, _ = complexity_section(chain)
        lines += clines
    if forward:
        lines += ["", "## Forward mode's memory", ""]
        lines += forward_mode.forward_section(forward)
    if sizes:
        lines += ["", "## Input size", ""]
        lines += inputs.inputs_section(sizes)
    n = notes(results, cold)
    if n:
        lines += ["", "## Notes", ""] + [f"- {x}" for x in n]
    lines += ["", "## Method", "",
              "- gradcli: each workload is a `.ag` program (bench/workloads/, and samples/13 for "
              "linear regression) parsed once with `gradcli.api.load` and run with `api.run`; "
              "large arrays are given as `input` values (numpy arrays). Peers: the same "
              "computation in plain numpy, PyTorch eager and HIPS autograd (bench/suite.py), "
              "float64 everywhere.",
              "- one process per (workload, implementation): build (imports, parsing, inputs; "
              "untimed), one run measured for peak RSS, warm-up, timed repeats "
              "(`time.perf_counter`, garbage collector on), one run under tracemalloc.",
              "- cold start: wall time of the whole process from spawn to exit (one discarded "
              "run first, so bytecode caches exist), `gradcli` being the installed console "
              "script; peers are `python -c` one-liners (bench/run.py, COLD_COMMANDS).",
              "- the harness measures and never asserts; timing is not a test."]
    return lines


# ------------------------------------------------------------------ main

def run_profile(args, log) -> int:
    impl = args.impls[0] if args.impl else "gradcli"
    if args.profile == "chain":
        spec = {"workload": "chain", "kind": "chain",
                "params": {"n": 10_000, "backward": True}}
    else:
        w = next(w for w in WORKLOADS if w["key"] == args.profile)
        spec = {"workload": w["key"], "kind": w["kind"],
                "params": w["params"][1 if args.quick else 0]}
    spec.update(impl=impl, repeats=0, profile=True, profile_top=args.profile_top)
    log(f"profiling {args.profile} / {IMPL_LABEL[impl]} {spec['params']} ...")
    r = run_worker(spec, args.timeout)
    if "profile" not in r:
        print(r.get("error") or r.get("unavailable") or r, file=sys.stderr)
        return 1
    if r.get("note"):
        log("note: " + r["note"])
    print(r["profile"])
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats and iterations (about a third of the time)")
    p.add_argument("--write", action="store_true", help="write the report to BENCHMARKS.md")
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"),
                   help="where --write puts the report (default: BENCHMARKS.md at the top level)")
    p.add_argument("--json", metavar="PATH", help="also dump the raw measurements as JSON")
    p.add_argument("--only", metavar="LIST",
                   help="comma-separated subset of: "
                        + ", ".join(WORKLOAD_KEYS + ["cold", "chain", "forward", "inputs"]))
    p.add_argument("--impl", metavar="LIST",
                   help="comma-separated subset of: " + ", ".join(IMPLS) + " (default: all installed)")
    p.add_argument("--repeats", type=int, help="override every workload's number of repeats")
    p.add_argument("--profile", metavar="WORKLOAD",
                   help="instead of measuring, print a cProfile of one gradcli run of WORKLOAD "
                        "(e.g. tiny, control; the size --quick uses when given)")
    p.add_argument("--profile-top", type=int, default=25, metavar="N",
                   help="functions listed per --profile table (default 25)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before one worker process is abandoned (default 600)")
    args = p.parse_args(argv)
    valid = set(WORKLOAD_KEYS + ["cold", "chain", "forward", "inputs"])
    args.selected = set(args.only.split(",")) if args.only else valid
    if args.selected - valid:
        p.error(f"unknown workload(s): {', '.join(sorted(args.selected - valid))}")
    args.impls = args.impl.split(",") if args.impl else list(IMPLS)
    if set(args.impls) - set(IMPLS):
        p.error(f"unknown implementation(s): {', '.join(sorted(set(args.impls) - set(IMPLS)))}")
    args.impls = [i for i in IMPLS if i in args.impls]
    if args.profile and args.profile not in WORKLOAD_KEYS + ["chain"]:
        p.error(f"--profile: unknown workload '{args.profile}' "
                f"(one of {', '.join(WORKLOAD_KEYS + ['chain'])})")
    args.command_line = "python -m bench " + " ".join(shlex.quote(a) for a in argv)
    args.command_line = args.command_line.strip()
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if args.profile:
        return run_profile(args, log)
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    load_before = loadavg()
    info = machine_info()
    missing = [i for i in args.impls if not peer_installed(i)]
    if missing:
        log(f"not installed (columns n/a): {', '.join(missing)}")
    log("measuring (each line is one process)...")
    results = measure_workloads(args.selected, args.impls, args.quick, args.repeats,
                                args.timeout, log)
    cold = measure_cold(args.quick, args.repeats, log, args.impls) \
        if "cold" in args.selected else {}
    chain = measure_chain(args.quick, args.repeats, args.timeout, log) \
        if "chain" in args.selected and "gradcli" in args.impls else {}
    sizes = inputs.measure_inputs(args.quick, args.timeout, child_env(), ROOT, log) \
        if "inputs" in args.selected and "gradcli" in args.impls else {}
    forward = forward_mode.measure_forward(args.quick, args.timeout, child_env(), ROOT, log) \
        if "forward" in args.selected and "gradcli" in args.impls else {}
    elapsed = time.perf_counter() - t0
    text = report(args, info, results, cold, chain, args.impls, started, load_before,
                  loadavg(), elapsed, sizes, forward)
    print(text)
    if args.write:
        Path(args.output).write_text(text)
        log(f"wrote {args.output}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "started": started.isoformat(),
                                               "workloads": results, "cold": cold,
                                               "chain": {str(k): v for k, v in chain.items()},
                                               "inputs": sizes, "forward": forward},
                                              indent=1))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):                      # `python bench/run.py`
        from bench.run import main as _main
        sys.exit(_main())
    sys.exit(main())
