"""Log records stay one line each and parse as logfmt (issue 9, point 10); names a user chose
cannot drive the operator's terminal (point 2)."""

from __future__ import annotations

import io
import logging
import re

from pymesos_rt.logs import LogfmtFormatter, logfmt_value, printable

# a logfmt reader: key=bare or key="quoted with \" \\ \n \uXXXX escapes"
_PAIR = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))')


def parse(line: str) -> dict[str, str]:
    assert "\n" not in line
    out: dict[str, str] = {}
    pos = 0
    for match in _PAIR.finditer(line):
        assert line[pos : match.start()].strip() == "", line[pos:]
        key, quoted, bare = match.groups()
        if quoted is None:
            out[key] = bare
        else:
            out[key] = re.sub(
                r"\\(u[0-9a-f]{4}|.)",
                lambda e: (
                    {"n": "\n", "r": "\r", "t": "\t"}.get(e.group(1))
                    or (
                        chr(int(e.group(1)[1:], 16))
                        if e.group(1)[0] == "u" and len(e.group(1)) == 5
                        else e.group(1)
                    )
                ),
                quoted,
            )
        pos = match.end()
    assert line[pos:].strip() == ""
    return out


def record(msg: str, exc: bool = False) -> str:
    stream = io.StringIO()
    logger = logging.getLogger("pymesos_rt.test_logs")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc:
            try:
                raise ValueError('bad "value"\nsecond line')
            except ValueError:
                logger.exception(msg)
        else:
            logger.warning(msg)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_message_with_newlines_and_quotes_is_one_parsable_record():
    msg = 'line one\nline "two" \\ back\x1b[2J\ttab'
    text = record(msg)
    assert text.count("\n") == 1  # the record's own end
    fields = parse(text.rstrip("\n"))
    assert fields["msg"] == msg and fields["level"] == "warning"


def test_exception_text_is_a_field_of_the_same_record():
    text = record("it failed", exc=True)
    assert text.count("\n") == 1
    fields = parse(text.rstrip("\n"))
    assert fields["msg"] == "it failed"
    assert fields["exc"].startswith("Traceback") and 'bad "value"\nsecond line' in fields["exc"]


def test_values_escape_every_control_character():
    assert logfmt_value('a"b\\c\nd\x07') == '"a\\"b\\\\c\\nd\\u0007"'


def test_printable_shows_terminal_escapes_instead_of_sending_them():
    name = "x\x1b]0;pwned\x07\x1b[2J"
    shown = printable(name)
    assert "\x1b" not in shown and "\x07" not in shown
    assert shown == "x\\x1b]0;pwned\\x07\\x1b[2J"
    assert printable("plain name-1") == "plain name-1"
