"""CSV files a person opens in a spreadsheet: text cells that a spreadsheet would run as a
formula (starting with = + - @, a tab or a carriage return) are written with a leading
apostrophe, as OWASP recommends against CSV injection; reading such a file back removes it,
so ids survive the round trip. The stored values are never changed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def neutralise(value: object) -> object:
    """The cell as written: a leading apostrophe before a formula trigger (and before an
    apostrophe, so that reading back is exact)."""
    if isinstance(value, str) and value.startswith((*TRIGGERS, ESCAPE)):
        return ESCAPE + value
    return value


def restore(value: object) -> object:
    """The cell as it was before `neutralise`."""
    if isinstance(value, str) and value.startswith(ESCAPE):
        return value[1:]
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` as a spreadsheet-safe CSV (text columns neutralised)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.to_csv(path, index=False)
    return path
