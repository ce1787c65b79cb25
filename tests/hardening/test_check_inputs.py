"""`check` on hostile and broken models (tests/corpus/models.py): findings and exit 1, never a
traceback; `load` refuses for remote code exactly when `check` does; unreadable paths and the
`demo` MODEL; a model without tokenizer files loads with a warning."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from console.cli import main
from tests.corpus.models import ATTACKS, build_attacks, no_tokenizer, remote_code_auto_map
from tests.hardening.helpers import cli, need_other_user


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.worker import tinymodels

    return tinymodels.build("llama", tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="module")
def attacks(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_attacks(tiny, tmp_path_factory.mktemp("attacks"))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_is_a_finding_not_a_traceback(attacks: dict[str, Path], name: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(attacks[name]), "--device", "cpu"])
    out = capsys.readouterr()
    assert code == 1, out.out
    assert "Traceback" not in out.out + out.err
    assert "    error: " in out.out
    assert "result    NOT OK (exit 1)" in out.out


def test_index_entries_outside_the_model_are_never_opened(attacks: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    for name in ("index_escape", "index_absolute", "index_symlink_out"):
        main(["check", str(attacks[name]), "--device", "cpu"])
        out = capsys.readouterr().out
        assert "index_outside" not in out  # the code is for JSON; the text names the problem
        assert "it is not read" in out
        assert "header length field" not in out  # /etc/passwd was not parsed as a shard


def test_the_clean_model_passes(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tiny), "--device", "cpu"]) == 0


def test_check_and_load_agree_on_remote_code(tiny: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    shutil.copytree(tiny, remote)
    remote_code_auto_map(remote)
    tok_remote = tmp_path / "tok_remote"
    shutil.copytree(tiny, tok_remote)
    tok_config = json.loads((tok_remote / "tokenizer_config.json").read_text())
    tok_config["auto_map"] = {"AutoTokenizer": ["tok_x.XTokenizer", None]}
    (tok_remote / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (tok_remote / "tok_x.py").write_text("raise SystemExit('remote code ran')\n")
    for model, refused in ((tiny, False), (remote, True), (tok_remote, True)):
        check = cli(["check", str(model), "--device", "cpu"])
        load = cli(["load", str(model), "--device", "cpu", "--timeout", "60"])
        assert (check.returncode == 1) is refused, check.stdout
        assert (load.returncode == 1) is refused, load.stderr
        if refused:
            assert "--trust-remote-code" in check.stdout
            assert "auto_map" in load.stderr and "--trust-remote-code" in load.stderr
            assert "remote code ran" not in load.stderr + load.stdout


def test_check_accepts_demo_like_load() -> None:
    done = cli(["check", "demo", "--device", "cpu"], timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("check demo")


def test_unreadable_model_directory_is_one_line_naming_path_and_permission(tiny: Path) -> None:
    need_other_user()
    where = Path(tempfile.mkdtemp(prefix="autoglm-perm-"))
    os.chmod(where, 0o755)
    model = where / "model"
    shutil.copytree(tiny, model)
    os.chmod(model, 0o000)
    home = Path(tempfile.mkdtemp(prefix="autoglm-home-"))  # config/cache dirs nobody may read
    os.chmod(home, 0o777)
    env = {"AUTOGLM_CONSOLE_CONFIG_DIR": str(home / "config"),
           "AUTOGLM_CONSOLE_CACHE_DIR": str(home / "cache"), "HOME": str(home)}
    try:
        done = cli(["check", str(model), "--device", "cpu"], as_nobody=os.geteuid() == 0,
                   env=env)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        lines = [ln for ln in done.stdout.splitlines() if "error:" in ln]
        assert lines == [f"    error: {model}: cannot be listed: permission denied (this user "
                         f"needs read and execute on it) - chmod u+rx {model}, or run as its "
                         "owner"]
        os.chmod(model, 0o755)
        os.chmod(where, 0o700)  # now a directory on the way cannot be entered
        done = cli(["check", str(model), "--device", "cpu"], as_nobody=os.geteuid() == 0,
                   env=env)
        assert done.returncode == 2
        assert done.stderr == (f"autoglm-console check: {model}: permission denied: this user "
                               "cannot enter a directory on the way to it (it needs x on each; "
                               "check owners and modes)\n")
    finally:
        os.chmod(model, 0o755)
        shutil.rmtree(where)
        shutil.rmtree(home)


def test_model_without_tokenizer_loads_with_a_warning(tiny: Path, tmp_path: Path) -> None:
    model = tmp_path / "notok"
    shutil.copytree(tiny, model)
    no_tokenizer(model)
    check = cli(["check", str(model), "--device", "cpu"])
    assert check.returncode == 0, check.stdout
    assert "the model loads, the prompt is off" in check.stdout
    load = cli(["load", str(model), "--device", "cpu", "--timeout", "60"])
    assert load.returncode == 0, load.stderr
    assert "the model is loaded, the prompt is off" in load.stderr
    assert "unloaded" in load.stdout
