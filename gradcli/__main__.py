"""`python -m gradcli`: the same command line as the `gradcli` script."""

from .cli import main

main()
