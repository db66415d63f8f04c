"""Report section of the conv-output experiment: the formula, the query (if any) and the table of examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.report.document import Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.conv_output import ConvCase, ConvOutputResult

COLUMNS = ["case", "input I", "kernel K", "stride S", "padding P", "dilation D", "output O", "worked", "note"]


def _dims(values: Sequence[Any]) -> str:
    return " x ".join(str(v) for v in values) if len(set(map(str, values))) > 1 else str(values[0])


def _row(case: ConvCase) -> list[Any]:
    if case.output_size is None:
        output, worked = "impossible", case.error or ""
    else:
        output = " x ".join(map(str, case.output_size))
        unique = list(dict.fromkeys(case.worked))
        names = ("H", "W") if len(case.worked) == 2 else [f"dim {d}" for d in range(len(case.worked))]
        worked = unique[0] if len(unique) == 1 else "\n".join(
            f"{n}: {w}" for n, w in zip(names, case.worked, strict=True))
    return [case.name, " x ".join(map(str, case.input_size)), _dims(case.kernel_size), _dims(case.stride),
            _dims(case.padding), _dims(case.dilation), output, worked, case.note]


def section(result: ConvOutputResult, figures: dict[str, Path]) -> Section:
    """The formula and the geometry asked for -- or, without a query, the worked table of examples."""
    settings: dict[str, Any] = {}
    if result.query is not None:
        tables = [Table(COLUMNS, [_row(result.query)], caption="The geometry asked for")]
        q = result.query
        settings = {"input": q.input_size, "kernel": q.kernel_size, "stride": q.stride, "padding": q.padding,
                    "dilation": q.dilation}
    else:
        tables = [Table(COLUMNS, [_row(case) for case in result.examples],
                        caption="Examples (one value per column means the same in every dimension)")]
    impossible = [case.name for case in result.examples if not case.possible]
    return Section(
        intro=(r"\(O = \left\lfloor \frac{I + 2P - D(K - 1) - 1}{S} \right\rfloor + 1\) per spatial dimension: I "
               "input size, K kernel size, S stride, P zero padding on each side, D dilation (1 = contiguous kernel). "
               "Pooling windows follow the same formula."),
        paragraphs=[
            "The numerator counts the positions the kernel's first tap can take, less one; dividing by the stride "
            "and adding 1 counts the windows. The floor means an incomplete last window is dropped, so the last "
            "few pixels of the input may never be seen when the stride does not divide.",
            r"At stride 1, padding \(P = D(K - 1)/2\) (odd K) keeps the size: 'same' padding. With no padding every "
            r"layer loses \(D(K - 1)\) pixels.",
            r"When the dilated kernel \(D(K - 1) + 1\) is larger than the padded input \(I + 2P\) there is no "
            f"window at "
            f"all; such geometries are reported as impossible ({len(impossible)} in the table), not as a size of 0 "
            "or less.",
        ],
        tables=tables,
        settings=settings,
    )
