"""An answer's JSON, parsed once, that still knows the text each of its members came from.

The landing (warehouse/landing.py) stores a record as the server wrote it: its exact JSON text,
handed to DuckDB, which reads the id, hashes and merges. Re-encoding parsed records in Python
would cost as much as DuckDB's whole insert, and would change what the server said (a number
such as 12345678901234567.89 becomes a float). So the client parses a body with `parse_answer`:
the same values `json.loads` gives (it is the same C scanner, called per member of the outer
objects instead of once for the whole body, so the cost is the same), and every member's value
at the outer levels remembers where its text lies. A fetch whose page is a list taken verbatim
from the answer says so with `verbatim_records(body, "data")`; the landing then writes that
list's bytes (a slice of the body's own bytes) to its staging file at once, with no
per-record work in Python.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The C scanner behind json.loads: scan_once(text, index) -> (value, end index).
_SCAN = json.JSONDecoder().scan_once
_SCANSTRING = json.decoder.scanstring
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# How many levels of objects keep their members' spans: `$.data`, `$.result.items`,
# `$.result.result.<command>` (a Bitrix24 batch). Deeper values are parsed whole, in C.
SPAN_DEPTH = 3


class _Source:
    """The body an answer was parsed from: its text, and its bytes when they are UTF-8 (the
    bytes of a member are then sliced from them instead of encoding its text again)."""

    __slots__ = ("content", "offset", "text")

    def __init__(self, text: str, content: bytes | None, offset: int) -> None:
        self.text = text
        self.content = content  # None: the body was not UTF-8 (UTF-16/32)
        self.offset = offset  # bytes before text[0] in content (a UTF-8 BOM)

    def utf8(self, start: int, end: int) -> memoryview:
        """The UTF-8 bytes of text[start:end]."""
        text = self.text
        if self.content is None:
            return memoryview(text[start:end].encode("utf-8", "surrogatepass"))
        if text.isascii():  # O(1) in CPython: one byte per character
            first, last = self.offset + start, self.offset + end
        else:  # only the text around the span is encoded (an answer's envelope: short)
            first = self.offset + len(text[:start].encode("utf-8", "surrogatepass"))
            last = len(self.content) - len(text[end:].encode("utf-8", "surrogatepass"))
        return memoryview(self.content)[first:last]


class Answer(dict):  # type: ignore[type-arg]
    """A parsed JSON object (a plain dict to every reader) with its members' text spans."""

    __slots__ = ("source", "spans")

    def __init__(self, source: _Source) -> None:
        super().__init__()
        self.source = source
        self.spans: dict[str, tuple[int, int]] = {}

    def member_utf8(self, key: str) -> memoryview | None:
        """The UTF-8 bytes of member `key`'s value, exactly as the server wrote them."""
        span = self.spans.get(key)
        return None if span is None else self.source.utf8(*span)


class AnswerList(list):  # type: ignore[type-arg]
    """A parsed top-level JSON array that knows its own bytes (an API answering a bare list)."""

    __slots__ = ("utf8",)

    def __init__(self, values: list[Any], utf8: memoryview) -> None:
        super().__init__(values)
        self.utf8 = utf8


class VerbatimRecords(list):  # type: ignore[type-arg]
    """The records of one page and the JSON text of their array, as the server sent it.

    Only for records that go to the landing untouched: a fetch that adds, drops or edits
    records yields a plain list (a copy, a comprehension) and the landing encodes those. The
    landing checks that DuckDB reads as many records from `utf8` as the list holds.
    """

    __slots__ = ("utf8",)

    def __init__(self, values: list[Any], utf8: memoryview) -> None:
        super().__init__(values)
        self.utf8 = utf8  # "[...]", UTF-8, as the server sent it

    @property
    def text(self) -> str:
        return bytes(self.utf8).decode("utf-8", "surrogatepass")


class VerbatimRecord(dict):  # type: ignore[type-arg]
    """One record (an object in an answer) and its JSON text, as the server sent it: an API
    answering one record a request (SalesMan's invoice/info). `verbatim_batch` joins them."""

    __slots__ = ("utf8",)

    def __init__(self, value: dict[str, Any], utf8: memoryview) -> None:
        super().__init__(value)
        self.utf8 = utf8  # "{...}", UTF-8


def verbatim_record(body: Any, *path: str) -> Any:
    """The object at `path` in `body`, carrying its JSON text when the body came from
    `parse_answer` with spans down to it; else the value as it is."""
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    value = node[path[-1]]
    utf8 = node.member_utf8(path[-1]) if isinstance(node, Answer) else None
    if isinstance(value, dict) and utf8 is not None:
        return VerbatimRecord(value, utf8)
    return value


def verbatim_batch(records: list[Any]) -> list[Any]:
    """Records of several answers as one page: with their joined text when every one of them
    carries its own (`verbatim_record`), else a plain list (the landing encodes those)."""
    if records and all(isinstance(record, VerbatimRecord) for record in records):
        text = b"[" + b",".join(record.utf8 for record in records) + b"]"
        return VerbatimRecords(records, memoryview(text))
    return list(records)


def verbatim_records(body: Any, *path: str) -> list[Any]:
    """The list at `path` in `body` (e.g. ("data",) or ("result", "items")), carrying its JSON
    text when the body came from `parse_answer` with spans down to it; else the list as it is.
    Raises KeyError/TypeError as `body[path[0]][path[1]]...` would."""
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if not path:
        value = node
        utf8 = node.utf8 if isinstance(node, AnswerList) else None
    else:
        value = node[path[-1]]
        utf8 = node.member_utf8(path[-1]) if isinstance(node, Answer) else None
    if isinstance(value, list) and utf8 is not None:
        return VerbatimRecords(value, utf8)
    return value  # type: ignore[no-any-return]


def parse_answer(content: bytes | str) -> Any:
    """`json.loads(content)`, with the text spans of the outer objects' members kept.

    Raises what json.loads raises (JSONDecodeError, UnicodeDecodeError) for what it refuses.
    """
    if isinstance(content, bytes):
        encoding = json.detect_encoding(content)
        text = content.decode(encoding, "surrogatepass")
        if encoding == "utf-8":
            source = _Source(text, content, 0)
        elif encoding == "utf-8-sig":
            source = _Source(text, content, 3)
        else:
            source = _Source(text, None, 0)
    else:
        text = content
        source = _Source(text, None, 0)
    try:
        start = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
        if text.startswith("{", start):
            value, end = _object(source, start, SPAN_DEPTH)
        else:
            value, end = _SCAN(text, start)
            if isinstance(value, list):
                value = AnswerList(value, source.utf8(start, end))
        if _WHITESPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
            raise ValueError("extra data")
    except (StopIteration, ValueError, IndexError):
        # Not JSON, or a form the walk does not take: json.loads says which (it raises the
        # same JSONDecodeError the client always saw), or parses what the walk could not.
        return json.loads(text)
    return value


def _object(source: _Source, index: int, depth: int) -> tuple[Answer, int]:
    """Parse the object at text[index] == "{", member by member; returns it and its end."""
    text = source.text
    answer = Answer(source)
    index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
    if text[index] == "}":
        return answer, index + 1
    while True:
        if text[index] != '"':
            raise ValueError("expected a key")
        key, index = _SCANSTRING(text, index + 1)
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text[index] != ":":
            raise ValueError("expected ':'")
        start = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
        if depth > 1 and text.startswith("{", start):
            value, index = _object(source, start, depth - 1)
        else:
            value, index = _SCAN(text, start)
        answer[key] = value  # a repeated key: the last one wins, as in json.loads
        answer.spans[key] = (start, index)
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text[index] == "}":
            return answer, index + 1
        if text[index] != ",":
            raise ValueError("expected ',' or '}'")
        index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
