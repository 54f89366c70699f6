"""Fuzz gradcli's gradients with generated `.ag` programs for as long as asked.

    python -m tests.fuzz --minutes 10 [--seed S] [--examples 150] [--keep-going]

Each round runs the property of tests/test_fuzz_programs.py (generated
program: first-order backward, recorded backward, api.gradient, the
program's own backward, float32 and central differences must agree) on
`--examples` fresh random programs, with hypothesis seeded by the round's
seed, and prints one progress line. On a finding hypothesis shrinks it to
a small program, which is printed in full (source, inputs, every gradient);
the run then exits 1, or with --keep-going goes on to the next round and
exits 1 at the end. Exit 0: nothing found in the time given.

Works from the repository root (`python -m tests.fuzz`) and as a script
(`python tests/fuzz.py`): `tests` has no __init__.py, so this folder is put
on sys.path the way pytest does, and program_gen is imported by name.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from hypothesis import HealthCheck, given, seed as seeded, settings  # noqa: E402

import program_gen  # noqa: E402


def one_round(round_seed: int, examples: int, stats: program_gen.Stats):
    """Run the property on `examples` programs; return the findings (strings)."""

    @seeded(round_seed)
    @settings(max_examples=examples, derandomize=False, database=None, deadline=None,
              print_blob=False, report_multiple_bugs=True,
              suppress_health_check=list(HealthCheck))
    @given(program_gen.cases())
    def prop(case):
        program_gen.check_case(case, stats)

    try:
        prop()
    except BaseExceptionGroup as group:     # several distinct findings
        return [_text(e) for e in group.exceptions]
    except Exception as exc:                # noqa: BLE001 - one finding
        return [_text(exc)]
    return []


def _text(exc: BaseException) -> str:
    notes = "".join("\n" + n for n in getattr(exc, "__notes__", ()))
    if isinstance(exc, program_gen.Finding):
        return str(exc) + notes
    return f"{type(exc).__name__}: {exc}{notes}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0,
                        help="how long to run (default 1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the first round (default: random); round k uses seed+k")
    parser.add_argument("--examples", type=int, default=150,
                        help="programs per round (default 150)")
    parser.add_argument("--keep-going", action="store_true",
                        help="after a finding, go on with the next round")
    args = parser.parse_args(argv)

    first_seed = args.seed if args.seed is not None else random.randrange(2 ** 31)
    flags = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in program_gen.FLAGS.items())
    print(f"fuzzing for {args.minutes:g} min from seed {first_seed}, {args.examples} "
          f"programs per round\nfeatures: {flags}", flush=True)
    stats = program_gen.Stats()
    findings: list[str] = []
    start = time.monotonic()
    deadline = start + 60 * args.minutes
    k = 0
    while time.monotonic() < deadline:
        round_seed = first_seed + k
        found = one_round(round_seed, args.examples, stats)
        k += 1
        elapsed = time.monotonic() - start
        print(f"[{elapsed / 60:5.1f} min] round {k} (seed {round_seed}): "
              f"{'FOUND ' + str(len(found)) if found else 'ok'} | {stats.summary()}",
              flush=True)
        for text in found:
            findings.append(text)
            print("\n" + "=" * 78 + f"\nFINDING (seed {round_seed}):\n{text}\n" + "=" * 78,
                  flush=True)
        if found and not args.keep_going:
            break
    print(f"\ndone after {k} rounds, {(time.monotonic() - start) / 60:.1f} min: "
          f"{len(findings)} finding(s)\n{stats.summary()}")
    if stats.side_errors:
        print("side runs that raised a gradcli error: " + "; ".join(
            f"{n}x {key}" for key, n in stats.side_errors.most_common(5)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
