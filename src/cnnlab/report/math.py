"""Formulas in report text: ``\\(...\\)`` spans hold LaTeX, rendered as MathML in the HTML report (every current
browser draws it; no script, no fonts, nothing fetched) and as readable plain text in the terminal.

    "the output size \\(O = \\left\\lfloor \\frac{I + 2P - K}{S} \\right\\rfloor + 1\\)"
"""

from __future__ import annotations

import re
import unicodedata

from latex2mathml.converter import convert

#: ``\(...\)`` (inline) and ``\[...\]`` (display) spans.
MATH = re.compile(r"\\\((?P<inline>.+?)\\\)|\\\[(?P<display>.+?)\\\]", re.DOTALL)

_SYMBOLS = {
    r"\cdot": "·", r"\times": "×", r"\sum": "Σ", r"\prod": "Π", r"\partial": "∂", r"\eta": "η", r"\sigma": "σ",
    r"\mu": "μ", r"\epsilon": "ε", r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\lambda": "λ", r"\theta": "θ",
    r"\lfloor": "⌊", r"\rfloor": "⌋", r"\lceil": "⌈", r"\rceil": "⌉", r"\|": "‖", r"\le": "≤", r"\ge": "≥",
    r"\ne": "≠", r"\approx": "≈", r"\to": "→", r"\in": "∈", r"\ldots": "…", r"\dots": "…", r"\pm": "±",
    r"\infty": "∞", r"\sqrt": "√", r"\ln": "ln", r"\log": "log", r"\max": "max", r"\min": "min", r"\exp": "exp",
}


def latex_to_mathml(latex: str, display: bool = False) -> str:
    """One formula as a MathML element (``display`` for a centred block)."""
    return convert(latex, display="block" if display else "inline")


def _group(text: str, start: int) -> tuple[str, int]:
    """The brace group ``{...}`` starting at ``text[start]`` (nested braces kept) and the index after it."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start + 1:index], index + 1
    return text[start + 1:], len(text)


def _atom(text: str) -> str:
    """``text`` as one factor: parenthesised unless it is a single name or number."""
    return text if re.fullmatch(r"[\w.∂]+", text.replace(" ", "")) and " " not in text.strip() else f"({text})"


def latex_to_text(latex: str) -> str:
    """A plain-text reading of a LaTeX formula for terminals: ``\\frac{a}{b}`` -> ``(a)/(b)``, ``\\lfloor`` ->
    ``⌊``, ``x_{k}`` -> ``x_k``, ``\\hat{y}`` -> ``ŷ``, ``\\text{...}`` -> its words."""
    out, i = [], 0
    while i < len(latex):
        if latex.startswith(r"\frac", i) and latex[i + 5:i + 6] == "{":
            top, i = _group(latex, i + 5)
            bottom, i = _group(latex, i) if i < len(latex) and latex[i] == "{" else ("", i)
            out.append(f"{_atom(latex_to_text(top))}/{_atom(latex_to_text(bottom))}")
            continue
        for command in (r"\hat", r"\text", r"\mathrm", r"\mathbf", r"\operatorname"):
            if latex.startswith(command, i) and latex[i + len(command):i + len(command) + 1] == "{":
                inner, i = _group(latex, i + len(command))
                out.append(latex_to_text(inner) + ("\u0302" if command == r"\hat" else ""))
                break
        else:
            if latex.startswith((r"\left", r"\right"), i):
                i += 5 if latex.startswith(r"\left", i) else 6
                continue
            symbol = next((s for s in sorted(_SYMBOLS, key=len, reverse=True) if latex.startswith(s, i)
                           and not (s[-1].isalpha() and latex[i + len(s):i + len(s) + 1].isalpha())), None)
            if symbol is not None:
                out.append(_SYMBOLS[symbol])
                i += len(symbol)
            elif latex[i] in "_^" and latex[i + 1:i + 2] == "{":
                inner, i2 = _group(latex, i + 1)
                out.append(f"{latex[i]}{latex_to_text(inner)}" if len(inner) == 1 else
                           f"{latex[i]}({latex_to_text(inner)})")
                i = i2
            elif latex[i] in "{}":
                i += 1
            elif latex.startswith(r"\,", i) or latex.startswith(r"\;", i) or latex.startswith(r"\ ", i):
                out.append(" ")
                i += 2
            else:
                out.append(latex[i])
                i += 1
    return "".join(out)


def plain(text: str) -> str:
    """``text`` with every formula span replaced by :func:`latex_to_text` (for the terminal), NFC-normalised so
    that ``ŷ`` is one character (columns stay aligned)."""
    return unicodedata.normalize("NFC", MATH.sub(
        lambda m: re.sub(r" {2,}", " ", latex_to_text(m.group("inline") or m.group("display"))), text))
