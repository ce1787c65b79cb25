"""Image prompts over the OpenAI API (issue 17 with issue 16): `RemoteEngine` sends the attached
image files as `image_url` content parts (data: URLs) to a real `transformers serve` serving
the tiny glm4v demo-vl, and the answer streams back with TTFT, tok/s and the images.

The server is transformers serve's own code started through console/worker/tf_serve.py: on this
CPU-only torch no torchvision imports, and stock `transformers serve` then cannot build glm4v's
processor (its video part needs torchvision); the launcher builds the processor without it,
as the console's own engine does. Decoding the data: URLs, the chat template, the processor,
the model and the streaming are the server's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core import protocol, vision
from console.core.serving import ServeSpec
from console.engines.remote import RemoteEngine
from console.host import procs
from console.worker import demo_vl
from tests.served.test_remote_engine import Folded

PROBES = {p.name: p for p in demo_vl.probe_images()}


@pytest.fixture(scope="module")
def vl_remote() -> Iterator[tuple[RemoteEngine, Folded]]:
    model = demo_vl.ensure()
    folded = Folded()
    spec = ServeSpec("transformers", str(model), port=procs.free_port(),
                     engine_cmd=(sys.executable, "-m", "console.worker.tf_serve"))
    engine = RemoteEngine(spec, folded, env={"HF_HUB_OFFLINE": "1"}, poll_s=0.5)
    engine.start()
    folded.wait(lambda: folded.session.engine in ("loaded", "dead"), 180, "ready")
    assert folded.session.engine == "loaded", [e.text for e in folded.of(protocol.Output)][-20:]
    yield engine, folded
    engine.kill()


def generate(engine: RemoteEngine, folded: Folded, **fields: object) -> protocol.Generated:
    msg_id = engine.send(protocol.new_command(protocol.Generate, max_new_tokens=6, **fields))
    folded.wait(lambda: any(e.reply_to == msg_id
                            for e in folded.of(protocol.Generated) + folded.of(protocol.Error)),
                120, "generated")
    errors = [e for e in folded.of(protocol.Error) if e.reply_to == msg_id]
    assert not errors, errors[0].message
    folded.wait(lambda: folded.session.engine == "loaded", 10, "back to loaded")
    done = next(e for e in folded.of(protocol.Generated) if e.reply_to == msg_id)
    assert isinstance(done, protocol.Generated)
    return done


def test_images_go_to_the_server_and_the_answer_streams_back(
        vl_remote: tuple[RemoteEngine, Folded]) -> None:
    engine, folded = vl_remote
    text_only = generate(engine, folded, prompt="open settings")
    paths = [str(PROBES["phone_screen.png"]), str(PROBES["icon.png"])]
    done = generate(engine, folded, prompt="open settings", images=paths)
    assert done.ttft_s is not None and done.ttft_s > 0 and 1 <= done.tokens <= 6
    assert done.images is not None and [i["path"] for i in done.images] == paths
    assert [(i["width"], i["height"]) for i in done.images] == [(540, 1200), (96, 96)]
    # The tokens each image became, by the model's processor limits ...
    limits = vision.limits_of_model_dir(str(demo_vl.demo_vl_dir()))
    assert isinstance(limits, vision.ProcessorLimits)
    per_image = [vision.image_tokens(1200, 540, limits), vision.image_tokens(96, 96, limits)]
    assert done.image_tokens_per_image == per_image and done.image_tokens == sum(per_image)
    # ... are exactly what the server's own processor put into the prompt: its prompt grew
    # by the image tokens and each image's begin/end markers (GLM-4.1V's template).
    assert text_only.prompt_tokens is not None and done.prompt_tokens is not None
    assert done.prompt_tokens - text_only.prompt_tokens == sum(per_image) + 2 * len(paths)
    assert folded.session.generation.done == done
    tokens = [e.text for e in folded.of(protocol.Token) if e.reply_to == done.reply_to]
    assert "".join(tokens) == done.text


def test_a_bad_image_is_one_line_and_nothing_is_sent(
        vl_remote: tuple[RemoteEngine, Folded], tmp_path: Path) -> None:
    engine, folded = vl_remote
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    sent_before = len(folded.of(protocol.Generated))
    msg_id = engine.send(protocol.new_command(
        protocol.Generate, prompt="open settings", images=[str(PROBES["icon.png"]), str(notes)]))
    folded.wait(lambda: any(e.reply_to == msg_id for e in folded.of(protocol.Error)), 10,
                "the refusal")
    error = next(e for e in folded.of(protocol.Error) if e.reply_to == msg_id)
    assert error.error_type == "BadImage"
    assert error.message == f"image {notes}: not a PNG, JPEG, GIF, BMP or WebP file"
    assert len(folded.of(protocol.Generated)) == sent_before
    assert engine.state == "loaded" and engine.alive
    # the same engine answers the next prompt
    assert generate(engine, folded, prompt="hi", images=[str(PROBES["icon.png"])]).images

