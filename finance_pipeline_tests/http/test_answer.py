"""parse_answer gives json.loads' values and keeps the text of the outer members' values."""

from __future__ import annotations

import json

import pytest

from finance_pipeline.http.answer import (
    Answer,
    AnswerList,
    VerbatimRecord,
    VerbatimRecords,
    parse_answer,
    verbatim_batch,
    verbatim_record,
    verbatim_records,
)

BODIES = [
    "{}",
    "[]",
    ' { "a" : [1, 2.50] , "b": {"c": {"d": {"e": [3]}}}, "a": 5 } ',
    '{"data": [{"id": 1, "v": 12345678901234567.89, "s": "\\u0416\\t\\"q\\""}], "meta": {"total": 1}}',
    '[{"id": 1}, {"id": 2}]',
    '"text"',
    "42",
    "null",
    '{"x": NaN, "y": -Infinity}',
    '\ufeff{"bom": true}',
    '{"\\u0416": {"nested": {"deep": {"deeper": [1]}}}}',
]
BROKEN = ["", "{", '{"a":1,}', '{"a" 1}', "[1,]", '{"a":1} x', "{'a': 1}", '{"a":1}}']


@pytest.mark.parametrize("body", BODIES)
def test_values_are_those_of_json_loads(body: str) -> None:
    raw = body.encode("utf-8")
    assert parse_answer(raw) == json.loads(raw)


@pytest.mark.parametrize("body", BROKEN)
def test_what_json_loads_refuses_is_refused_with_its_error(body: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(body.encode())
    with pytest.raises(json.JSONDecodeError) as got:
        parse_answer(body.encode())
    assert str(got.value) == str(expected.value)


def test_the_records_text_is_the_servers_own() -> None:
    records = '[ {"id": 1, "amount": 0.10},\n  {"id": 2, "amount": 12345678901234567.89} ]'
    body = parse_answer(('{"success": true, "transactions": ' + records + ', "n": 2}').encode())
    assert isinstance(body, Answer)
    page = verbatim_records(body, "transactions")
    assert isinstance(page, VerbatimRecords) and page.text == records
    assert page == [{"id": 1, "amount": 0.1}, {"id": 2, "amount": 12345678901234567.89}]


def test_nested_and_top_level_lists_keep_their_text() -> None:
    nested = parse_answer(b'{"result": {"result": {"cmd0": [ {"ID": "1"} ]}, "total": 1}}')
    page = verbatim_records(nested, "result", "result", "cmd0")
    assert isinstance(page, VerbatimRecords) and page.text == '[ {"ID": "1"} ]'
    bare = parse_answer(b' [{"id": 1}] ')
    assert isinstance(bare, AnswerList) and bytes(bare.utf8) == b'[{"id": 1}]'
    assert verbatim_records(bare).text == '[{"id": 1}]'  # type: ignore[attr-defined]


def test_a_copied_or_plain_list_is_not_verbatim() -> None:
    body = parse_answer(b'{"data": [{"id": 1}]}')
    assert type(list(verbatim_records(body, "data"))) is list
    assert type(verbatim_records({"data": [{"id": 1}]}, "data")) is list
    with pytest.raises(KeyError):
        verbatim_records(body, "missing")


def test_records_of_several_answers_join_into_one_verbatim_page() -> None:
    # SalesMan's invoice/info: one record an answer, landed in batches as the server wrote them.
    first = verbatim_record(parse_answer('{"data": {"crid": 1, "s": "Ж", "v": 0.10}}'.encode()), "data")
    second = verbatim_record(parse_answer(b'{"result": "ok", "data": {"crid": 2}}'), "data")
    assert isinstance(first, VerbatimRecord) and first == {"crid": 1, "s": "Ж", "v": 0.1}
    page = verbatim_batch([first, second])
    assert isinstance(page, VerbatimRecords) and page == [first, second]
    assert page.text == '[{"crid": 1, "s": "Ж", "v": 0.10},{"crid": 2}]'
    assert json.loads(page.text) == [first, second]
    # One record without its text (built or changed by us): the page is encoded instead.
    assert type(verbatim_batch([first, {"crid": 3}])) is list
    assert type(verbatim_record({"data": {"crid": 1}}, "data")) is dict
    assert verbatim_batch([]) == []


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", ""), ("utf-8", "\ufeff"), ("utf-16", ""), ("utf-32-le", "")],
)
def test_the_records_bytes_are_the_servers_own_in_any_encoding(encoding: str, prefix: str) -> None:
    """Around the records: non-ASCII text before and after (the byte offsets differ from the
    character offsets), a BOM, or a body in UTF-16/32 (its records are handed on in UTF-8)."""
    records = '[{"id": 1, "name": "Жук ☃ \\u0416", "amount": 0.10}]'
    body = prefix + '{"note": "Привет ✓", "data": ' + records + ', "после": "ещё ✓"}'
    page = verbatim_records(parse_answer(body.encode(encoding)), "data")
    assert isinstance(page, VerbatimRecords)
    assert bytes(page.utf8) == records.encode("utf-8") and page.text == records
