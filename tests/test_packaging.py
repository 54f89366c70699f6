"""A regular (non-editable) install ships the grammar and D2L's helpers, and can parse."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_non_editable_install_parses_a_program(tmp_path):
    site = tmp_path / "site"
    # Build and install a wheel of this checkout without touching the network:
    # the dependencies are already in this environment.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    assert (site / "gradcli" / "grammar" / "ag.lark").is_file()
    assert (site / "gradcli" / "lang" / "d2l_torch.ag").is_file()
    probe = ("import gradcli\nfrom gradcli import api\n"
             "r = api.gradient(api.load('input x = [1, 2]\\nsum(x * x)'))\n"
             "d = api.run(api.load('from d2l import torch as d2l\\n"
             "y = d2l.linreg(ones((1, 2)), ones(2), 1)'))\n"
             "print(gradcli.__file__)\nprint(r.grads['x'].tolist())\n"
             "print(d.variables['y'].value.tolist())\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=env, check=True)
    location, grads, linreg = done.stdout.splitlines()
    assert Path(location).is_relative_to(site)        # not this source tree
    assert grads == "[2.0, 4.0]"
    assert linreg == "[3.0]"
