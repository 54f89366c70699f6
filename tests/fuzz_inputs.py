"""Fuzz gradcli with hostile input for as long as asked.

    python -m tests.fuzz_inputs --minutes 30 [--seed S] [--examples 100]
                                [--families bytes,soup,sample,json]
                                [--cli 250] [--process 20] [--ignore REGEX]

Rounds go through the families of tests/input_gen.py in turn (random
bytes, token soups, mutated samples, random JSON); each round runs
`--examples` fresh cases of one family with hypothesis seeded by the
round's seed (`--seed`, then +1 per round) and prints one progress line.
`--cli` and `--process` are the shares (per mille) of cases that also run
through the CLI in-process (CliRunner) and in a subprocess (the `gradcli`
console script).

A finding is shrunk by hypothesis, then further by deleting lines and
characters while its signature stays, and printed (the input as a Python
repr, the paths it took, what happened, the traceback). Its signature is
then ignored for the rest of the run, so that the same bug does not
dominate, and the run goes on. Exit 1 if anything was found, 0 if not.

Known findings (input_gen.KNOWN) whose reproducer still fails are counted,
not reported (`--no-known` reports them too).

Works from the repository root (`python -m tests.fuzz_inputs`) and as a
script (`python tests/fuzz_inputs.py`): `tests` has no __init__.py, so
this folder is put on sys.path the way pytest does, and input_gen is
imported by name.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from hypothesis import HealthCheck, given, seed as seeded, settings  # noqa: E402
from hypothesis.errors import HypothesisWarning  # noqa: E402

import input_gen  # noqa: E402


def one_round(family: str, round_seed: int, examples: int, cli: int, process: int,
              stats: input_gen.Stats) -> list[BaseException]:
    """Run `examples` cases of `family`; return what hypothesis raised."""

    @seeded(round_seed)
    @settings(max_examples=examples, derandomize=False, database=None, deadline=None,
              print_blob=False, report_multiple_bugs=True,
              suppress_health_check=list(HealthCheck))
    @given(input_gen.FAMILIES[family](cli, process))
    def prop(case):
        input_gen.check(case, stats)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HypothesisWarning)
        try:
            prop()
        except BaseExceptionGroup as group:        # several distinct findings (or flaky)
            return _flatten(group)
        except Exception as exc:                   # noqa: BLE001 - one finding
            return [exc]
    return []


def _flatten(group: BaseExceptionGroup) -> list[BaseException]:
    out = []
    for exc in group.exceptions:
        out += _flatten(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


def _report(exc: BaseException, reduce_seconds: float) -> tuple[str, str]:
    """(signature, text) of one finding, reduced further when it can be."""
    if isinstance(exc, input_gen.Finding):
        found = exc
        try:
            found = input_gen.reduce_case(exc, budget_seconds=reduce_seconds)
        except Exception as broken:  # noqa: BLE001 - keep the unreduced finding
            return exc.signature, str(exc) + f"\n(reducing failed: {broken!r})"
        note = ("" if found is exc else
                f"\n(reduced from {len(exc.case.data)} to {len(found.case.data)} "
                "characters/bytes; the unreduced input:\n"
                f"{exc.case.data!r})")
        return found.signature, str(found) + note
    notes = "".join("\n" + n for n in getattr(exc, "__notes__", ()))
    text = f"{type(exc).__name__}: {exc}{notes}\n{input_gen._trace(exc)}"
    return f"harness: {type(exc).__name__}", text


def _limit_memory(gigabytes: float) -> None:
    """Cap the fuzzer's address space: a runaway allocation in gradcli then
    fails as a MemoryError (a finding) instead of starving the machine."""
    try:
        import resource
        size = int(gigabytes * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    except (ImportError, ValueError, OSError):
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz_inputs", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0,
                        help="how long to run (default 1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the first round (default: random); round k uses seed+k")
    parser.add_argument("--examples", type=int, default=100,
                        help="cases per round (default 100)")
    parser.add_argument("--families", default=",".join(input_gen.FAMILIES),
                        help="comma-separated families (default: all)")
    parser.add_argument("--cli", type=int, default=250,
                        help="per mille of cases also run through the CLI (default 250)")
    parser.add_argument("--process", type=int, default=20,
                        help="per mille of cases run through the CLI in a subprocess "
                             "(default 20)")
    parser.add_argument("--ignore", action="append", default=[], metavar="REGEX",
                        help="signature of a known finding to count, not report (repeatable)")
    parser.add_argument("--no-known", action="store_true",
                        help="report the known findings (input_gen.KNOWN) too")
    parser.add_argument("--reduce-seconds", type=float, default=90.0,
                        help="time to spend shrinking each finding further (default 90)")
    parser.add_argument("--memory-gb", type=float, default=4.0,
                        help="address-space limit of this process (default 4)")
    args = parser.parse_args(argv)

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in input_gen.FAMILIES]
    if unknown:
        parser.error(f"unknown family {unknown[0]!r} (have {', '.join(input_gen.FAMILIES)})")
    _limit_memory(args.memory_gb)
    input_gen.IGNORED.extend(args.ignore)
    still_open = [] if args.no_known else input_gen.apply_known()
    first_seed = args.seed if args.seed is not None else random.randrange(2 ** 31)
    print(f"fuzzing inputs for {args.minutes:g} min from seed {first_seed}: families "
          f"{', '.join(families)}, {args.examples} cases per round, CLI {args.cli}/1000 "
          f"(subprocess {args.process}/1000)"
          + (f"; ignoring {args.ignore}" if args.ignore else ""), flush=True)
    for name in still_open:
        print(f"known finding {name} still open, counted not reported: "
              f"{input_gen.KNOWN[name][0]}", flush=True)
    stats = input_gen.Stats()
    findings: list[tuple[str, str]] = []
    start = time.monotonic()
    deadline = start + 60 * args.minutes
    k = 0
    while time.monotonic() < deadline:
        family = families[k % len(families)]
        round_seed = first_seed + k
        raised = one_round(family, round_seed, args.examples, args.cli, args.process, stats)
        k += 1
        new = []
        for exc in raised:
            signature, text = _report(exc, args.reduce_seconds)
            if any(signature == s for s, _ in findings + new):
                continue
            new.append((signature, text))
            # From now on the same signature is counted, not raised.
            input_gen.IGNORED.append("^" + re.escape(signature) + "$")
        elapsed = time.monotonic() - start
        print(f"[{elapsed / 60:5.1f} min] round {k} {family} (seed {round_seed}): "
              f"{'FOUND ' + str(len(new)) if new else 'ok'} | "
              f"{sum(stats.cases.values())} cases", flush=True)
        for signature, text in new:
            findings.append((signature, text))
            print("\n" + "=" * 78 + f"\nFINDING {len(findings)} (round {k}, {family}, seed "
                  f"{round_seed}):\n{text}\n" + "=" * 78 + "\n", flush=True)
        if k % (4 * len(families)) == 0:
            print("  " + stats.summary(), flush=True)
    minutes = (time.monotonic() - start) / 60
    print(f"\ndone after {k} rounds, {minutes:.1f} min: {len(findings)} finding(s)\n  "
          + stats.summary(masked_top=15))
    for n, (signature, _) in enumerate(findings, 1):
        print(f"  finding {n}: {signature}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
