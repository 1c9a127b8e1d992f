"""Metadata the Dagster UI shows well: tables as Markdown, figures inline."""

from __future__ import annotations

import base64
import io

import pandas as pd
from PIL import Image

#: Figures in metadata are shrunk to this width: the event log keeps every materialisation.
THUMBNAIL_WIDTH = 640


def figure_markdown(figure) -> str:
    """A report figure as an inline Markdown image (a small PNG data URI) with its title."""
    with Image.open(io.BytesIO(figure.png)) as image:
        scale = THUMBNAIL_WIDTH / max(image.width, 1)
        small = image.resize((THUMBNAIL_WIDTH, max(1, int(image.height * scale))))
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"![{figure.title}](data:image/png;base64,{data})\n\n*{figure.title}*"


def table_markdown(frame: pd.DataFrame, rows: int = 15) -> str:
    """The first rows of a table as Markdown (floats to 3 places), or "none"."""
    if frame.empty:
        return "none"
    return frame.head(rows).to_markdown(index=False, floatfmt=".3f")
