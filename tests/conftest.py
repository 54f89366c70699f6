"""Fixtures shared by test modules: pytest finds them here, so no module
imports a fixture (and no `# noqa` keeps such an import alive)."""

import gradcheck

# Each test from the core's default MODE, and whatever it changed put back
# (test_core_*.py and test_builtins_gradcheck.py use it module-wide). Its
# code stays in gradcheck.py, beside the checks it resets MODE for.
core_mode = gradcheck.core_mode
