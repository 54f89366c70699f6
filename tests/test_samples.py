"""What the samples' `# expect` lines cannot say (their numbers are checked
by test_golden.py, in float64 and float32)."""

from pathlib import Path

import numpy as np
import pytest

from gradcli import api

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def run_sample(name, **options):
    program = api.load((SAMPLES / name).read_text())
    return api.run(program, options=api.Options(**options))


def test_every_sample_starts_with_a_comment_saying_what_it_shows():
    for path in sorted(SAMPLES.glob("*.ag")):
        assert path.read_text().startswith("# "), path.name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_06_random_scalar_variant_holds_for_other_seeds(seed):
    printed = run_sample("06_control_flow_while.ag", seed=seed).printed
    grad, ratio = (shown.value for shown in printed[1])
    assert grad == ratio


def test_09_the_detached_value_has_no_gradient():
    assert list(run_sample("09_detach.ag").grads) == ["x"]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.ag")), ids=lambda p: p.name)
def test_samples_print_float32_numbers_in_a_float32_run(path):
    result = api.run(api.load(path.read_text()), options=api.Options(dtype="float32"))
    for line in result.printed:
        for shown in line:
            if shown.is_array:     # numbers in float32; comparisons are booleans
                assert shown.value.dtype in (np.float32, np.bool_)
