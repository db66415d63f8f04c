"""Settings that describe themselves: dataclass fields made with :func:`option` carry their help text, choices and
bounds, so one definition serves the library (validation), the CLI (generated options) and the report (settings).

    @dataclass(frozen=True)
    class Settings:
        epochs: int = option(10, "Training epochs.", minimum=1)
        engine: str = option("numpy", "Layer family.", choices=lambda: tuple(FAMILIES))

        def __post_init__(self) -> None:
            check_options(self)          # ValueError naming the option for a bad choice or bound
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Choices = Sequence[str] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class OptionInfo:
    """What the CLI needs to offer one settings field: help, choices (evaluated lazily), bounds, visibility."""

    help: str
    choices: Choices | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    cli: bool = True
    metavar: str | None = None
    aliases: tuple[str, ...] = ()

    def choice_list(self) -> tuple[str, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def option(default: T, help: str, *, choices: Choices | None = None, minimum: float | None = None,
           maximum: float | None = None, min_open: bool = False, cli: bool = True, metavar: str | None = None,
           aliases: tuple[str, ...] = ()) -> T:
    """A dataclass field with ``default`` that documents itself (see the module docstring).

    ``choices`` may be a callable so registries are read when the option is used, not when the module is imported.
    ``min_open``: the value must be strictly above ``minimum``. ``cli=False`` keeps a field out of the generated
    command line (it stays a library setting); ``aliases`` are further spellings of the option (e.g. the assignment's
    ``--max_datapoints``).
    """
    info = OptionInfo(help, choices, minimum, maximum, min_open, cli, metavar, aliases)
    return dataclasses.field(default=default, metadata={"option": info})


def option_info(field: dataclasses.Field[Any]) -> OptionInfo | None:
    """The :class:`OptionInfo` of a field made by :func:`option`, else None."""
    info = field.metadata.get("option")
    return info if isinstance(info, OptionInfo) else None


def cli_name(field_name: str) -> str:
    """How the command line spells a field: ``max_datapoints`` -> ``--max-datapoints``."""
    return "--" + field_name.replace("_", "-")


def check_options(settings: object) -> None:
    """``ValueError`` naming the option when a field of ``settings`` is outside its choices or bounds.

    ``None`` is always accepted (it means "not set" / "the default"); for a tuple every entry is checked.
    """
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        info = option_info(field)
        value = getattr(settings, field.name)
        if info is None or value is None:
            continue
        name = cli_name(field.name)
        allowed = info.choice_list()
        if allowed is not None:
            for item in value if isinstance(value, tuple) else (value,):
                if item not in allowed:
                    raise ValueError(f"{name}: {item!r} is not one of {', '.join(allowed)}")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
        if info.minimum is not None and (value <= info.minimum if info.min_open else value < info.minimum):
            bound = "above" if info.min_open else "at least"
            raise ValueError(f"{name} must be {bound} {info.minimum:g}, got {value:g}")
        if info.maximum is not None and value > info.maximum:
            raise ValueError(f"{name} must be at most {info.maximum:g}, got {value:g}")


class Validated:
    """Base of every settings dataclass: its fields' choices and bounds are checked on construction
    (:func:`check_options`), then :meth:`check` applies the rules that involve several fields.

    Subclasses are (frozen) dataclasses; they override :meth:`check`, never ``__post_init__``.
    """

    def __post_init__(self) -> None:
        check_options(self)
        self.check()

    def check(self) -> None:
        """Rules across fields; raise ``ValueError`` naming the options (as the command line spells them)."""


def settings_dict(settings: object) -> dict[str, Any]:
    """The fields of a settings dataclass as plain JSON-ready values (tuples as lists, paths as strings)."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return settings_dict(value)
        if hasattr(value, "__fspath__"):
            return str(value)
        return value

    return {f.name: plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}  # type: ignore[arg-type]
