"""console.core.termsafe: nothing a terminal acts on survives, and everything stays visible."""

from __future__ import annotations

import io
import re

import pytest

from console.core.termsafe import SafeStream, is_safe, safe, safe_line, write_control

# Every way to start a sequence a terminal acts on: 7-bit (ESC + letter) and 8-bit (C1) forms.
ATTACKS = {
    "osc0 title": "\x1b]0;PWNED\x07",
    "osc2 title, ST": "\x1b]2;PWNED\x1b\\",
    "osc8 hyperlink": "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "osc52 clipboard": "\x1b]52;c;UFdORUQ=\x07",
    "csi clear screen": "\x1b[2J\x1b[H",
    "csi colour": "\x1b[31mred\x1b[0m",
    "dcs": "\x1bP1$r0m\x1b\\",
    "apc": "\x1b_Gpayload\x1b\\",
    "pm": "\x1b^privacy\x1b\\",
    "sos": "\x1bXstring\x1b\\",
    "c1 csi": "\x9b2J",
    "c1 osc": "\x9d0;PWNED\x9c",
    "c1 dcs": "\x90q\x9c",
    "bel": "ding\x07",
    "backspace overwrite": "safe\x08\x08\x08\x08evil",
    "carriage return overwrite": "rm -rf /\rls",
    "nul": "a\x00b",
    "del": "a\x7fb",
    "bidi override": "abc\u202edcba",
    "bidi isolate": "\u2066x\u2069",
}


@pytest.mark.parametrize("text", list(ATTACKS.values()), ids=list(ATTACKS))
def test_no_control_character_survives(text: str) -> None:
    out = safe(text)
    assert is_safe(out)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    assert out != text  # something was shown visibly


def test_sequences_are_shown_visibly() -> None:
    assert safe("\x1b]52;c;UFdORUQ=\x07") == "\u241b]52;c;UFdORUQ=\u2407"
    assert safe("\x9b2J") == "\u241b[2J"
    assert safe("\x1b[31mred") == "\u241b[31mred"


def test_newlines_tabs_and_plain_text_stay() -> None:
    text = "line one\n\tindented — ünïcödé 模型 🙂\n"
    assert safe(text) is text
    assert safe("a\r\nb") == "a\nb"
    assert safe_line("a\nb") == "a\u240ab"


def test_safe_stream_sanitises_writes_but_passes_own_controls() -> None:
    raw = io.StringIO()
    stream = SafeStream(raw)
    print("token \x1b]0;x\x07", file=stream)  # type: ignore[arg-type]
    write_control(stream, "\r\x1b[2K", "loading \x1b[5m")
    assert raw.getvalue() == "token \u241b]0;x\u2407\n\r\x1b[2Kloading \u241b[5m"
    plain = io.StringIO()
    write_control(plain, "\r", "\x07")
    assert plain.getvalue() == "\r\u2407"
