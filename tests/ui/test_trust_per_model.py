"""trust_remote_code is bound to one exact model (console.core.trust): ticking it for model A
and then changing the model field clears it, and B's code never runs without its own
confirmation. Real engine process, real remote-code models (their code leaves a marker file
when it runs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.widgets import Checkbox

from console.core.trust import TrustGrant, model_key
from tests.ui.conftest import wait_until
from tests.ui.test_model_panel import ENGINE_S, make_engine_app, shows
from widgets.confirm_screen import ConfirmScreen
from widgets.model_panel import ModelPanel

CODE = '''from pathlib import Path
from transformers import LlamaForCausalLM
Path({marker!r}).write_text("ran")


class RemoteForCausalLM(LlamaForCausalLM):
    pass
'''


def remote_model(base: Path, dest: Path, marker: Path) -> Path:
    shutil.copytree(base, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_remote.RemoteForCausalLM"}
    (dest / "config.json").write_text(json.dumps(cfg))
    (dest / "modeling_remote.py").write_text(CODE.format(marker=str(marker)))
    return dest


async def test_changing_the_model_clears_trust_and_b_code_never_runs(tmp_path: Path) -> None:
    from console.worker import tinymodels

    base = tinymodels.build("llama", tmp_path / "base")
    model_a = remote_model(base, tmp_path / "a", tmp_path / "ran-a")
    model_b = remote_model(base, tmp_path / "b", tmp_path / "ran-b")
    app = make_engine_app(model=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        panel = app.query_one(ModelPanel)
        panel.set_model(str(model_a))
        await pilot.pause()
        panel.query_one("#trust", Checkbox).value = True
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("y")
        await wait_until(pilot, lambda: panel.trust_grant is not None, "the grant")
        assert panel.trust_grant.key.path == str(model_a.resolve())
        # Switch the model field to B: the grant and the box are cleared at once.
        panel.set_model(str(model_b))
        await wait_until(pilot, lambda: not panel.trust_remote_code, "the box cleared")
        assert panel.trust_grant is None
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#results", "auto_map"), "B refused", ENGINE_S)
        assert not (tmp_path / "ran-b").exists()
        assert not (tmp_path / "ran-a").exists()


def test_a_grant_is_bound_to_the_snapshot_commit(tmp_path: Path) -> None:
    """The same hub id after refs/main moved to another commit needs a new confirmation."""
    from console.worker import tinymodels

    base = tinymodels.build("llama", tmp_path / "base")
    repo = tmp_path / "hub" / "models--org--remote"
    first, second = "a" * 40, "b" * 40
    for commit in (first, second):
        shutil.copytree(base, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(first)
    cache = str(tmp_path / "hub")
    key = model_key("org/remote", cache)
    assert key.commit == first
    grant = TrustGrant(key)
    assert grant.allows(model_key("org/remote", cache))
    assert grant.allows(model_key(str(repo / "snapshots" / first), cache))  # same model
    (repo / "refs" / "main").write_text(second)
    assert not grant.allows(model_key("org/remote", cache))
    assert not grant.allows(model_key(str(base), cache))
    link = tmp_path / "link"
    link.symlink_to(repo / "snapshots" / first)
    assert grant.allows(model_key(str(link), cache))
    link.unlink()
    link.symlink_to(base)  # the same name now points at another model
    assert not grant.allows(model_key(str(link), cache))
