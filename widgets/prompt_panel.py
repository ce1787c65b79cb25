"""The prompt under the model panel: a prompt Input, max_new_tokens / temperature / top_p,
and the output pane tokens stream into, with TTFT, tokens/s and the KV cache's size; image
prompts (issue 16): ctrl+o opens a path field (right arrow completes, Enter attaches, Esc
closes), the attached images are listed with their size and vision tokens, ctrl+r removes the
last; AutoGLM's parsed action (or why the answer is malformed) under the output.

Enter in the prompt posts `PromptPanel.Submitted` (the app sends `generate`); the app calls
`show_session(session)` on the UI thread: the output, the figures, the parsed answer and the
loaded model's processor limits are the session's; the attached images (not yet sent) are the
panel's own.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static

from console.core import vision
from console.core.session import Generation, Session
from console.core.termsafe import safe, safe_line
from console.core.units import fmt_bytes
from widgets.wrapped import IndentedStatic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


class PathSuggester(Suggester):
    """Completes a file path: the first directory entry (directories, then images, then the
    rest) that starts with what was typed; a directory ends in "/". Right arrow accepts."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        head, sep, stem = value.rpartition("/")
        directory = Path(os.path.expanduser((head or "/") if sep else "."))
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return None
        matches = [n for n in names if n.startswith(stem) and (stem.startswith(".")
                                                                or not n.startswith("."))]

        def rank(name: str) -> tuple[int, str]:
            if (directory / name).is_dir():
                return 0, name
            return (1 if name.lower().endswith(IMAGE_SUFFIXES) else 2), name

        if not matches:
            return None
        best = min(matches, key=rank)
        prefix = value[: len(value) - len(stem)]
        return prefix + best + ("/" if (directory / best).is_dir() else "")


class _PathInput(Input):
    """The attach-image path field: Escape closes it (back to the prompt)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close the image path field", show=False,
                id="prompt.image_path.close"),
    ]

    class Closed(Message):
        pass

    def action_close(self) -> None:
        self.post_message(self.Closed())


@dataclass(frozen=True)
class AttachedImage:
    path: str
    format: str
    width: int
    height: int
    file_bytes: int
    tokens: int | None  # vision tokens at the loaded model's processor limits (None: unknown)

    def line(self, index: int) -> str:
        tokens = "? tokens" if self.tokens is None else f"{self.tokens} vision tokens"
        return (f"{index}. {Path(self.path).name}  {self.width}x{self.height} {self.format}  "
                f"{fmt_bytes(self.file_bytes)}  -> {tokens}")


class PromptPanel(Vertical):
    DEFAULT_CSS = """
    PromptPanel { height: auto; border-top: solid $primary-darken-1; }
    PromptPanel Horizontal { height: auto; }
    PromptPanel #prompt { width: 1fr; }
    PromptPanel #max-new-tokens { width: 6; }
    PromptPanel #temperature, PromptPanel #top-p { width: 5; }
    PromptPanel #gen-stats { height: 1; color: $text-muted; }
    PromptPanel #output-scroll { height: auto; min-height: 3; max-height: 12; }
    PromptPanel #output { height: auto; }
    PromptPanel #image-path { display: none; }
    PromptPanel #image-path.open { display: block; }
    PromptPanel #images { height: auto; color: $text-muted; display: none; }
    PromptPanel #answer { height: auto; display: none; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "attach_image", "Attach image", id="prompt.attach_image"),
        Binding("ctrl+r", "remove_image", "Remove last image", id="prompt.remove_image"),
    ]

    class Submitted(Message):
        def __init__(self, prompt: str, max_new_tokens: int, temperature: float,
                     top_p: float | None, images: tuple[str, ...] = ()) -> None:
            super().__init__()
            self.prompt = prompt
            self.max_new_tokens = max_new_tokens
            self.temperature = temperature
            self.top_p = top_p
            self.images = images

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: Generation | None = None
        self.images: list[AttachedImage] = []
        self.image_note = ""
        # The loaded model's processor limits (console.core.vision.ProcessorLimits); None
        # for a text-only model; "unknown" when no model is loaded (the session's).
        self.vision_limits: vision.ProcessorLimits | str | None = "unknown"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(placeholder="prompt (Enter generates, ctrl+s stops)", id="prompt",
                        compact=True)
            yield Label(" max")
            yield Input("64", id="max-new-tokens", type="integer", compact=True)
            yield Label(" T")
            yield Input("0", id="temperature", type="number", compact=True)
            yield Label(" top_p")
            yield Input("", placeholder="-", id="top-p", type="number", compact=True)
        yield _PathInput(placeholder="image path (right arrow completes, Enter attaches, "
                         "Esc closes)", id="image-path", suggester=PathSuggester(),
                         compact=True)
        yield Static("", id="images", markup=False)
        yield Static("", id="gen-stats", markup=False)
        with VerticalScroll(id="output-scroll"):
            # The model's output wraps keeping each line's indentation (code, lists).
            yield IndentedStatic("", id="output")
        yield IndentedStatic("", id="answer")

    # -- images (issue 16) ----------------------------------------------------------------

    def _set_vision(self, limits: vision.ProcessorLimits | str | None) -> None:
        """The loaded model's processor limits (None: text-only; "unknown": none loaded);
        the attached images' token counts follow."""
        self.vision_limits = limits
        refreshed = []
        for img in self.images:
            tokens = None
            if isinstance(limits, vision.ProcessorLimits):
                try:
                    tokens = vision.image_tokens(img.height, img.width, limits)
                except vision.VisionError:
                    tokens = None
            refreshed.append(AttachedImage(img.path, img.format, img.width, img.height,
                                           img.file_bytes, tokens))
        self.images = refreshed
        self._show_images()

    def action_attach_image(self) -> None:
        field = self.query_one("#image-path", Input)
        field.add_class("open")
        field.focus()

    def action_remove_image(self) -> None:
        if not self.images:
            self.image_note = "no image attached (ctrl+o attaches one)"
        else:
            removed = self.images.pop()
            self.image_note = f"removed {Path(removed.path).name}"
        self._show_images()

    def attach(self, path_text: str) -> bool:
        """Attach the image at `path_text` (header read here; the engine decodes it)."""
        from console.core import imageinfo

        if self.vision_limits is None:
            self.image_note = "the loaded model is text-only: it takes no images"
            self._show_images()
            return False
        try:
            header = imageinfo.read_header(path_text)
        except imageinfo.ImageInfoError as exc:
            self.image_note = str(exc)
            self._show_images()
            return False
        tokens = None
        if isinstance(self.vision_limits, vision.ProcessorLimits):
            try:
                tokens = vision.image_tokens(header.height, header.width, self.vision_limits)
            except vision.VisionError as exc:
                self.image_note = f"image {path_text}: {exc}"
                self._show_images()
                return False
        self.images.append(AttachedImage(str(Path(header.path).absolute()), header.format,
                                         header.width, header.height, header.file_bytes,
                                         tokens))
        self.image_note = ""
        self._show_images()
        return True

    def _show_images(self) -> None:
        lines = [img.line(i) for i, img in enumerate(self.images, 1)]
        if self.images:
            known = [img.tokens for img in self.images if img.tokens is not None]
            total = f"{sum(known)} vision tokens" if len(known) == len(self.images) else \
                "vision tokens known once a vision model is loaded"
            lines.insert(0, f"images: {len(self.images)} attached, {total} "
                            "(ctrl+o attach, ctrl+r remove last)")
        if self.image_note:
            lines.append(self.image_note)
        # file names and error text are shown, never emitted (console.core.termsafe)
        listing = self.query_one("#images", Static)
        listing.update("\n".join(safe_line(line) for line in lines))
        listing.display = bool(lines)  # no rows at all without images (the layout as before)

    def on__path_input_closed(self, message: _PathInput.Closed) -> None:
        message.stop()
        self._close_path_field()

    def _close_path_field(self) -> None:
        field = self.query_one("#image-path", Input)
        field.remove_class("open")
        field.value = ""
        self.query_one("#prompt", Input).focus()

    def _number(self, widget_id: str, default: float) -> float:
        text = self.query_one(f"#{widget_id}", Input).value.strip()
        try:
            value = float(text)
        except ValueError:
            return default
        return value if math.isfinite(value) else default  # nan / inf typed: the default

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "image-path":
            event.stop()
            if event.value.strip() and self.attach(event.value.strip()):
                self._close_path_field()
            return
        if event.input.id != "prompt":
            return
        event.stop()
        prompt = event.value.strip()
        if not prompt:
            return
        top_p_text = self.query_one("#top-p", Input).value.strip()
        self.post_message(self.Submitted(
            prompt, max(1, int(self._number("max-new-tokens", 64))),
            max(0.0, self._number("temperature", 0.0)),
            self._top_p(top_p_text), tuple(img.path for img in self.images)))

    @staticmethod
    def _top_p(text: str) -> float | None:
        """top_p in (0, 1]; anything else (empty, nan, 0, 1.5, words) leaves the default."""
        try:
            value = float(text)
        except ValueError:
            return None
        return value if 0.0 < value <= 1.0 else None

    @property
    def output_text(self) -> str:
        return self._shown.text if self._shown is not None else ""

    def show_session(self, session: Session) -> None:
        if session.vision_limits is not self.vision_limits:
            self._set_vision(session.vision_limits)
        gen = session.generation
        if gen is self._shown:
            return
        text_changed = self._shown is None or gen.text != self._shown.text
        self._shown = gen
        if text_changed:
            self.query_one("#output", Static).update(safe(gen.text))
            self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False)
        stats = self.query_one("#gen-stats", Static)
        done = gen.done
        if done is not None and not gen.running:
            ttft, rate = done.ttft_s, done.tokens_per_s
            count = len(done.images or ())
            about = [f"{count} image{'s' if count != 1 else ''}"] if count else []
            if done.image_tokens:
                about.append(f"image tokens {done.image_tokens}")
            images = "  " + ", ".join(about) if about else ""
            stats.update(
                f"tokens {done.tokens}{images}"
                f"  TTFT {'N/A' if ttft is None else f'{ttft * 1000:.0f} ms'}"
                f"  {'N/A' if rate is None else f'{rate:.1f}'} tok/s"
                f"  KV cache {fmt_bytes(done.kv_cache_bytes)}  stopped: {done.stopped}")
        elif gen.running and gen.tokens == 0:
            stats.update("generating...")
        elif gen.running:
            stats.update(f"tokens {gen.tokens}  KV cache {fmt_bytes(gen.kv_cache_bytes)}")
        answer = self.query_one("#answer", Static)
        line = self.answer_line(gen)
        answer.update(safe_line(line))
        answer.display = bool(line)
        if line:  # the parsed action is the point: keep it on screen (80x24 too)
            self.call_after_refresh(answer.scroll_visible, animate=False)

    @staticmethod
    def answer_line(gen: Generation) -> str:
        """AutoGLM's parsed action under the output (the session parses it for an image
        prompt, a vision model, or an output in its think/answer format); "" otherwise."""
        answer = gen.answer
        if gen.running or answer is None:
            return ""
        if answer.ok and answer.action is not None:
            return f"action: {answer.action.summary()}"
        return "answer malformed: " + "; ".join(answer.problems)
