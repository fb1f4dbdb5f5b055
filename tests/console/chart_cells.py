"""The words a heat map writes in its cells (`console.charts._write_cells`), read back."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go


@dataclass(frozen=True)
class CellWords:
    x: str
    y: str
    text: str
    colour: str
    size: int


def cell_words(figure: go.Figure) -> list[CellWords]:
    """Each written cell: where, what, in which colour and size (none when nothing is written)."""
    traces = [t for t in figure.data if t.name == "cell words"]
    if not traces:
        return []
    (trace,) = traces
    return [
        CellWords(x, y, text, colour, trace.textfont.size)
        for x, y, text, colour in zip(
            trace.x, trace.y, trace.text, trace.textfont.color, strict=True
        )
    ]
