"""Image prompts in the typed protocol and the session (issue 16): Generate.images and the
`generated` image fields decode to typed attributes, bad types are one-line ProtocolErrors, and
`apply` keeps the processor limits, the images sent and AutoGLM's parsed answer."""

from __future__ import annotations

import typing

import pytest

from console.core import protocol, vision
from console.core.session import (
    GenerationStarted,
    LoadRequested,
    Session,
    VisionRead,
    apply,
)
from console.worker import demo_vl

ANSWER = '<think>top right</think><answer>do(action="Tap", element=[912, 88])</answer>'
LIMITS = vision.processor_limits(  # demo-vl's (console/worker/demo_vl.py)
    {"model_type": "glm4v", "vision_config": dict(demo_vl.VISION_OVERRIDES)},
    {"size": {"shortest_edge": demo_vl.MIN_PIXELS, "longest_edge": demo_vl.MAX_PIXELS}})


def ev(name: str, reply_to: int | None = None, **fields: typing.Any) -> protocol.AnyEvent:
    return protocol.to_event(protocol.event(name, reply_to, **fields), received_ts=100.0)


def generated(text: str, **fields: typing.Any) -> protocol.AnyEvent:
    return ev("generated", 3, tokens=5, ttft_s=0.1, tokens_per_s=10.0, kv_cache_bytes=64,
              stopped="eos", text=text, **fields)


def loaded(model_type: str) -> protocol.AnyEvent:
    return ev("loaded", 1, model="m", path="/m", label="m", model_type=model_type,
              model_class="X", load_s=0.5, memory={"devices": []})


def fold(*events: typing.Any) -> Session:
    s = Session()
    for e in events:
        s = apply(s, e)
    return s


def test_generate_images_typed_and_checked() -> None:
    line = protocol.encode(protocol.command("generate", 4, prompt="p", images=["/a.png"]))
    cmd = protocol.decode_command(line)
    assert isinstance(cmd, protocol.Generate) and cmd.images == ["/a.png"]
    plain = protocol.decode_command(protocol.encode(protocol.command("generate", 5, prompt="p")))
    assert isinstance(plain, protocol.Generate) and plain.images is None
    with pytest.raises(protocol.ProtocolError, match="field 'images' is str, expected list"):
        protocol.decode_command(protocol.encode(protocol.command("generate", 6, prompt="p",
                                                                 images="/a.png")))
    # None leaves the field out of the wire object (the engine's default: no images)
    assert "images" not in protocol.new_command(protocol.Generate, prompt="p", images=None)


def test_generated_image_fields_typed() -> None:
    event = generated("x", image_tokens=230, image_tokens_per_image=[230],
                      images=[{"path": "/a.png", "width": 540, "height": 1200,
                               "file_bytes": 6964}], image_grid_thw=[[1, 40, 20]],
                      image_processor="AutoProcessor", vision_estimate={"bytes": 1},
                      rss_peak_growth_bytes=123)
    assert isinstance(event, protocol.Generated)
    assert (event.image_tokens, event.image_tokens_per_image, event.image_grid_thw) == \
        (230, [230], [[1, 40, 20]])
    assert event.images is not None and event.images[0]["width"] == 540
    assert event.rss_peak_growth_bytes == 123 and event.image_processor == "AutoProcessor"
    text_only = generated("x")
    assert isinstance(text_only, protocol.Generated)
    assert text_only.image_tokens == 0 and text_only.images is None
    with pytest.raises(protocol.ProtocolError, match="'image_tokens' is str"):
        protocol.decode_event(protocol.encode(protocol.event(
            "generated", 3, tokens=1, ttft_s=None, tokens_per_s=None, kv_cache_bytes=None,
            stopped="eos", text="", image_tokens="many")))


def test_vision_limits_follow_the_loaded_model() -> None:
    s = fold(loaded("glm4v"), VisionRead(LIMITS))
    assert s.vision_limits is LIMITS
    assert apply(s, ev("unloaded", 2, freed_bytes=1, seconds=0.1, held_bytes=0, held_by={},
                       message="freed")).vision_limits == "unknown"
    assert apply(s, LoadRequested("other")).vision_limits == "unknown"
    assert apply(s, ev("exited", None, returncode=0, signal=None, expected=True,
                       last_lines=[])).vision_limits == "unknown"
    assert fold(loaded("glm4"), VisionRead(None)).vision_limits is None


def test_answer_parsed_for_images_or_a_vision_model_only() -> None:
    # a text-only model and plain text: no answer line
    s = fold(loaded("glm4"), VisionRead(None), GenerationStarted(), generated("hello"))
    assert s.generation.answer is None
    # images sent: parsed, and the images stay with the generation
    s = fold(loaded("glm4v"), GenerationStarted(images=("/a.png",)), generated(ANSWER))
    assert s.generation.images == ("/a.png",)
    answer = s.generation.answer
    assert answer is not None and answer.ok and answer.action is not None
    assert answer.action.summary() == "Tap at (912, 88)"
    # a vision model loaded (its limits read), no images: an empty output is malformed
    s = fold(loaded("glm4v"), VisionRead(LIMITS), GenerationStarted(), generated(""))
    assert s.generation.answer is not None and not s.generation.answer.ok
    # any model, an output in AutoGLM's format: parsed
    s = fold(loaded("llama"), VisionRead(None), GenerationStarted(), generated(ANSWER))
    assert s.generation.answer is not None and s.generation.answer.ok
    # a new generation clears the answer until it ends
    assert apply(s, GenerationStarted()).generation.answer is None
