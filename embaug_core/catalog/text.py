"""The text fields of a product: descriptions as plain text, and what counts as empty."""

from __future__ import annotations

import logging
import unicodedata
import warnings
from collections.abc import Iterator
from typing import Protocol, TypeVar

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from embaug_core.catalog.settings import MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS

logger = logging.getLogger(__name__)

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


def category_name(text: str | None) -> str | None:
    """A class name as kept: surrounding space dropped and Unicode composed (NFC), so "Café"
    typed as one character or as "e" and an accent is one class; None when it shows nothing
    (an unlabelled product). Catalogue rows and people's labels both pass through here."""
    if text is None or is_blank(text):
        return None
    return unicodedata.normalize("NFC", text.strip())


class _HasCategory(Protocol):
    category: str | None


Row = TypeVar("Row", bound=_HasCategory)


class Spellings:
    """Each distinct class name as written, to tell which spellings `category_name` made one
    class: they print alike, so the warning shows them with `ascii` (like `case_variants`)."""

    def __init__(self) -> None:
        self.written: set[str] = set()

    def add(self, name: str | None) -> str | None:
        """The class of `name`, noting how it was written."""
        kept = category_name(name)
        if kept is not None:
            self.written.add(name.strip())
        return kept

    def note(self, rows: Iterator[Row]) -> Iterator[Row]:
        """The rows, each one's category noted on the way."""
        for row in rows:
            self.add(row.category)
            yield row

    def merged(self, where: str) -> list[list[str]]:
        """Groups of spellings that are one class, each logged as a warning naming `where`."""
        groups: dict[str, set[str]] = {}
        for name in self.written:
            groups.setdefault(category_name(name), set()).add(name)
        merged = [sorted(group) for group in groups.values() if len(group) > 1]
        for group in merged:
            logger.warning(
                "%s: categories written in different Unicode forms are one class (NFC): %s",
                where,
                ", ".join(map(ascii, group)),
            )
        return merged
