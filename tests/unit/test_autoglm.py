"""console.core.autoglm: AutoGLM's think/answer format and the signs of a broken answer."""

from __future__ import annotations

from console.core import autoglm


def test_tap_parses() -> None:
    a = autoglm.parse('<think>The settings icon is top right.</think>'
                      '<answer>do(action="Tap", element=[912, 88])</answer>')
    assert a.ok, a.problems
    assert a.think == "The settings icon is top right."
    assert a.action is not None and a.action.action == "Tap"
    assert a.action.element == (912, 88)
    assert a.action.summary() == "Tap at (912, 88)"


def test_type_swipe_launch_finish() -> None:
    t = autoglm.parse('<think>x</think><answer>do(action="Type", text="hello (world) \\"q\\"")'
                      '</answer>')
    assert t.ok and t.action is not None and t.action.text == 'hello (world) "q"'
    s = autoglm.parse('<think>x</think><answer>do(action="Swipe", start=[500, 800], '
                      'end=[500, 200])</answer>')
    assert s.ok and s.action is not None and (s.action.start, s.action.end) == ((500, 800),
                                                                               (500, 200))
    la = autoglm.parse('<think>x</think>\n<answer>do(action="Launch", app="微信")</answer>')
    assert la.ok and la.action is not None and la.action.text == "微信"
    f = autoglm.parse('<think>done</think><answer>finish(message="Sent.")</answer>')
    assert f.ok and f.action is not None and f.action.kind == "finish"
    lp = autoglm.parse('<think>x</think><answer>do(action="Long Press", element=[1, 2])</answer>')
    assert lp.ok and lp.action is not None and lp.action.action == "Long Press"


def test_missing_tags_flagged() -> None:
    a = autoglm.parse('do(action="Tap", element=[1, 2])')
    assert not a.ok
    assert "missing <think> tag" in a.problems and "missing <answer> tag" in a.problems
    assert a.action is not None and a.action.element == (1, 2)  # still read, still flagged
    b = autoglm.parse('<think>thinking and thinking')
    assert "missing </think> tag" in b.problems and "missing <answer> tag" in b.problems
    c = autoglm.parse('<think>x</think><answer>do(action="Tap", element=[1, 2])')
    assert "missing </answer> tag" in c.problems


def test_bad_calls_flagged() -> None:
    cases = {
        '<think>x</think><answer>tap the button</answer>': "no do(...)",
        '<think>x</think><answer>do(action="Tap", element=[1, 2]</answer>': "not closed",
        '<think>x</think><answer>do(action="Fly")</answer>': "unknown action",
        '<think>x</think><answer>do(action="Tap")</answer>': "needs element",
        '<think>x</think><answer>do(action="Tap", element=[5000, 2])</answer>': "outside",
        '<think>x</think><answer>do(action="Tap", element=__import__("os"))</answer>':
            "not a literal",
    }
    for text, why in cases.items():
        a = autoglm.parse(text)
        assert not a.ok
        assert any(why in p for p in a.problems), (text, a.problems)


def test_immediate_eos_garbled_repetition() -> None:
    assert "immediate end of sequence" in autoglm.parse("").problems[0]
    assert "immediate end of sequence" in autoglm.parse("<", tokens=1, stopped="eos").problems[0]
    assert not autoglm.parse("<", tokens=1, stopped="length").problems[0].startswith("immed")
    g = autoglm.parse("\ufffd\ufffd\x01\x02ab\ufffd\ufffd")
    assert any(p.startswith("garbled") for p in g.problems)
    r = autoglm.parse("<think>" + "the the the " * 20)
    assert any(p.startswith("repetition") for p in r.problems)
    ok = autoglm.parse("<think>I will open the app, then tap search.</think>"
                       '<answer>do(action="Tap", element=[500, 100])</answer>')
    assert ok.ok and ok.problems == ()


def test_model_text_in_problems_and_summaries_is_escaped() -> None:
    a = autoglm.parse('<think>x</think><answer>do(action="Tap" \x1b[2J element=[1, 2])</answer>')
    assert a.problems and all("\x1b" not in p for p in a.problems)
    assert any("\\x1b" in p for p in a.problems)
    f = autoglm.parse('<think>x</think><answer>finish(message="done\x1b]0;pwned\x07")</answer>')
    assert f.action is not None and "\x1b" not in f.action.summary()
