"""gradcli's benchmark harness (not part of the installed package).

Run it from the repository root: ``python -m bench`` (``--quick``,
``--write``; ``--help`` for the rest). See bench/README.md.
"""
