"""gradcli: a command-line gradient calculator for small array programs."""

__version__ = "0.1.0"
