"""Source spans and the one error family of gradcli.

Core errors are raised without a span; the interpreter stamps the span of
the node it was evaluating (see `GradcliError.at`), and the terminal edge
renders the result once, as `FILE:LINE:COL: error: message` plus a caret.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the first character; end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


class GradcliError(Exception):
    """Base of every error a user can cause. `span` may be filled in later."""

    kind = "error"
    # Set when the span points into another text than the program: its name
    # where a report says FILE (`--expect`), and the line the span is on.
    origin: str | None = None
    line_text: str | None = None

    def __init__(self, message: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span

    def at(self, span: Span | None) -> "GradcliError":
        """Attach `span` unless a more precise one is already set."""
        if self.span is None and span is not None:
            self.span = span
        return self

    def __str__(self) -> str:
        return self.message


class SyntaxProblem(GradcliError):
    """The program text does not parse."""


class EvalError(GradcliError):
    """A runtime error: wrong type, unknown name, bad argument."""


class ShapeError(EvalError):
    """Operand shapes do not fit the operator."""


class GradError(EvalError):
    """Misuse of differentiation: untracked value, freed graph, in-place write."""


class LimitError(EvalError):
    """A resource limit (steps, elements, recursion depth) was reached."""


class NumericError(EvalError):
    """NaN or Inf produced during backward, when --detect-nan asks to stop."""


class DataError(GradcliError):
    """Bad input data: invalid JSON, unknown or missing inputs."""
