"""How `gradcli explain` and the REPL's `:explain` show a backward pass:
as lines of text, step by step (render.py's numbers, elided as its tables
are), or as the JSON of SPEC section 5."""

from __future__ import annotations

from . import jsonio
from .render import plain, printable


def explanation_lines(e) -> list[str]:
    """The explanation as lines of text (see `print_explanation`)."""
    out = [_opening(e)]
    if e.steps:
        out.append("each step sends each of its inputs the gradient in times the local "
                   "derivative by that input; a rule with g in it is the gradient sent itself "
                   "(g: the gradient in)")
    for step in e.steps:
        out.append("")
        out.extend(_step_lines(e, step))
    if e.left_out:
        left = sum(e.left_out.values())
        ops = ", ".join(f"{count} {op}" for op, count in
                        sorted(e.left_out.items(), key=lambda item: (-item[1], item[0])))
        out += ["", f"… {left} more step{_s(left)} not shown (--max-nodes {len(e.steps)} shows "
                    f"the first {len(e.steps)}): {ops}"]
    if e.leaves:
        out += ["", f"gradients of {e.differentiated} by the inputs, from this pass"]
        for total in e.leaves:
            out.extend(_total_lines(total))
    if e.chain:
        out += ["", "the chain rule by variable"]
        out.extend(f"  {_link_text(link)}" for link in e.chain)
    if e.notes:
        out.append("")
        out.extend(f"note: {note}" for note in e.notes)
    if e.partials:
        out += ["", _cost(e)]
    return [printable(line) for line in out]


def print_explanation(console, e) -> None:
    from rich.text import Text
    console.print(Text("\n".join(explanation_lines(e))), soft_wrap=True)


def _opening(e) -> str:
    origin = f"the backward pass of {e.origin}" if e.origin else \
        f"the backward pass of {e.result}"
    if e.head is not None:
        return (f"{origin}, with the head gradient from {e.head_from} {plain(e.head)}: it "
                f"differentiates head · {e.result} (a vector–Jacobian product)")
    if e.shape:
        return (f"{origin}: {e.result} is not a single number, so it differentiates "
                f"sum({e.result}), starting from a gradient of ones")
    return f"{origin}, starting from a gradient of 1 ({e.result} is a single number)"


def _step_lines(e, step) -> list[str]:
    made = step.source or "?"
    if step.name is not None and step.name != step.source:
        made = f"{step.name} = {made}"
    where = f"  line {step.line}" if step.line is not None else ""
    inside = f"  (its {step.inside!r} step)" if step.inside else ""
    out = [f"step {step.number}  {step.op}{where}  {made}{inside}"]
    out.append(f"  gradient in  {plain(step.grad_in)}{_received(e, step)}")
    if step.parts_count > 1:
        out.append(f"    the sum of the {step.parts_count} gradients "
                   f"{step.name or 'this value'} received (the multivariable chain rule):")
        out.extend(_part_lines(step.parts, step.parts_count))
    targets = [sent.to if sent.written == sent.to else f"{sent.written} ({sent.to})"
               for sent in step.sent]
    width = max((len(target) for target in targets), default=0)
    rules = [sent.rule if sent.rule is not None else "(no rule)" for sent in step.sent]
    rule_width = max((len(rule) for rule in rules), default=0)
    for sent, target, rule in zip(step.sent, targets, rules):
        out.append(f"  to {target:<{width}}  {rule:<{rule_width}}  →  {plain(sent.grad)}")
    out.extend(f"  note: {note}" for note in step.notes)
    return out


def _received(e, step) -> str:
    """Where the gradient in came from, when one step (or the head) alone
    sent it."""
    if step.number == 1:
        if e.head is not None:
            return f"  (the head gradient, from {e.head_from})"
        return f"  (ones: the head of {e.differentiated})" if e.shape else "  (the start)"
    if step.parts_count == 1:
        part = step.parts[0]
        return f"  (from step {part.step})"
    return ""


def _part_lines(parts, count) -> list[str]:
    texts = [plain(p.grad) for p in parts]
    width = max(len(t) for t in texts)
    out = []
    for k, (part, shown) in enumerate(zip(parts, texts)):
        sign = "  " if k == 0 else "+ "
        out.append(f"      {sign}{shown:<{width}}  from step {part.step} ({part.source})")
    if count > len(parts):
        out.append(f"      + … {count - len(parts)} more")
    return out


def _total_lines(total) -> list[str]:
    out = [f"  {total.name} = {plain(total.grad)}"]
    if total.parts_count > 1:
        out.append(f"    the sum of the {total.parts_count} gradients {total.name} received "
                   "(the multivariable chain rule):")
        out.extend(_part_lines(total.parts, total.parts_count))
    elif total.parts:
        out[-1] += f"  (from step {total.parts[0].step})"
    return out


def _link_text(link) -> str:
    text = f"{link.derivative} = {link.formula}"
    if link.expanded:
        text += f" = {link.expanded}"
    if link.sources:
        text += "   (" + ", ".join(f"{term} from {source}" for source, term in link.sources) + ")"
    if link.value is not None:
        text += f"   = {plain(link.value)}"
    return text


def _cost(e) -> str:
    """The cost argument: one reverse pass gives every partial derivative
    of a single number; forward mode needs one pass per input element."""
    n = e.partials
    if n == 1:
        return (f"this one reverse pass gave the partial derivative of {e.differentiated} by "
                "its one input element; forward mode needs one pass too (gradcli grad --mode "
                "forward shows it)")
    return (f"this one reverse pass gave all {n} partial derivatives of {e.differentiated}; "
            f"forward mode would need {n} passes, one per input element (gradcli grad --mode "
            "forward shows it)")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


# -------------------------------------------------------------------- JSON

def explanation_json(e) -> dict:
    """SPEC 5's `{"steps": [{"op", "line", "source", "grad_in", "rule",
    "grad_out": [...]}, ...]}`, and beside the steps what the text shows
    after them."""
    return {
        "result": e.result,
        "differentiated": e.differentiated,
        "head": None if e.head is None else jsonio.array(e.head),
        "steps": [_step_json(step) for step in e.steps],
        "left_out": {"steps": sum(e.left_out.values()), "ops": dict(e.left_out)},
        "grads": {total.name: jsonio.array(total.grad) for total in e.leaves},
        "chain": [{"derivative": link.derivative, "formula": link.formula,
                   "expanded": link.expanded,
                   "value": None if link.value is None else jsonio.array(link.value)}
                  for link in e.chain],
        "notes": list(e.notes),
        "partials": e.partials,
    }


def _step_json(step) -> dict:
    out = {
        "step": step.number,
        "op": step.op,
        "line": step.line,
        "source": step.source,
        "name": step.name,
        "inside": step.inside,
        "grad_in": jsonio.array(step.grad_in),
        "rule": "; ".join(sent.rule for sent in step.sent if sent.rule is not None),
        "grad_out": [{"to": sent.to, "written": sent.written, "input": sent.index,
                      "rule": sent.rule,
                      "grad": jsonio.array(sent.grad)} for sent in step.sent],
        "notes": list(step.notes),
    }
    if step.parts_count > 1:
        out["sum"] = [{"from_step": part.step, "source": part.source,
                       "grad": jsonio.array(part.grad)} for part in step.parts]
    return out
