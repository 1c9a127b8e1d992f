"""The text fields of a product: descriptions as plain text, and what counts as empty."""

from __future__ import annotations

import unicodedata
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from embaug_core.catalog.settings import MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS

#: Unicode categories that show nothing: controls, formats (zero-width spaces, joiners, BOM),
#: separators.
INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp"}


def is_blank(text: str) -> bool:
    """True when the text shows nothing: empty, spaces, or only zero-width characters."""
    return all(unicodedata.category(char) in INVISIBLE for char in text)


def html_to_text(html: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """Plain text of a product description: tags dropped, entities decoded, spaces collapsed.
    HTML beyond `limit` characters is cut first, which bounds the parser's time."""
    if not html or is_blank(html):
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        text = BeautifulSoup(html[:limit], "html.parser").get_text(" ")
    return " ".join(text.split())


def field_problem(name: str, value: str) -> str | None:
    """Why a field of a row is unusable (too long), or None."""
    limit = MAX_FIELD_CHARS.get(name)
    if limit is not None and len(value) > limit:
        return f"{name} too long: {len(value):,} characters (limit {limit:,})"
    return None
