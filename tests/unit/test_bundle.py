"""The diagnostic bundle: sections, redaction, home shortening, the session-log diagnosis, and
`autoglm-console bundle` end to end (a subprocess with the real doctor and telemetry).

Session logs are written with the engine client's own writer (`SessionLog`), so the format
read here is the format the client writes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.causetext import ErrorRecord
from console.core.diagnose import diagnose_text
from console.core.doctor_judge import Check, Report
from console.core.redact import clean, redact, shorten_home
from console.engines.local import SessionLog
from console.host.bundle import (
    build_bundle,
    diagnose_session_log,
    engine_errors,
    newest_session_log,
    parse_session_line,
    read_session_log,
    tail_lines,
    write_bundle,
)
from tests.paths import LOG_FIXTURES as LOGS
from tests.paths import REPO
from tests.ui.fakes import h100_at

HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQtdmFsdWU.Zm9vYmFyYmF6cXV4"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = (HF_TOKEN, BEARER, AWS_SECRET, "AKIAIOSFODNN7EXAMPLE", "s3cr3t-passw0rd",
           "sk-proj-abcdefghijklmnopqrstuvwxyz012345", "tokenvalue123")
PLANTED = [
    f"HF_TOKEN={HF_TOKEN}",
    "HUGGING_FACE_HUB_TOKEN=tokenvalue123",
    f"Authorization: Bearer {BEARER}",
    f'headers = {{"Authorization": "Bearer {BEARER}"}}',
    f"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
    "DB_PASSWORD: s3cr3t-passw0rd",
    "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz012345",
    f"model = AutoModel.from_pretrained('org/m', token='{HF_TOKEN}')",
    f"huggingface-cli login --token {HF_TOKEN}",
]


# -- redaction ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line", PLANTED)
def test_redact_masks_every_planted_secret(line: str) -> None:
    out = redact(line)
    assert not any(secret in out for secret in SECRETS), out
    assert "***" in out


@pytest.mark.parametrize("line", [
    "missing_keys: ['lm_head.weight'], unexpected_keys: []",
    '"num_key_value_heads": 2, "pad_token_id": 0, "max_new_tokens": 64',
    "Some weights of LlamaForCausalLM were not initialized: ['model.embed_tokens.weight']",
    "tokenizer.json: pad_token <pad>; eos_token </s>",
    "from_pretrained(name, token=None)",
    '{"event":"token","text":"hi","token_ids":[1]}',
    "KV cache 40 KiB per token; MAX_TOKENS=100",
    "TOKENIZERS_PARALLELISM=false PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
    '{"event": "loaded", "kv_bytes_per_token": 40960, "has_tokenizer": true}',
])
def test_redact_keeps_model_facts(line: str) -> None:
    assert redact(line) == line


def test_the_session_log_writer_uses_the_same_redaction(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "s.log")
    for line in PLANTED:
        log.write("ENGINE", line)
    log.close()
    text = (tmp_path / "s.log").read_text()
    assert not any(secret in text for secret in SECRETS)


def test_home_is_shortened_only_as_a_whole_path() -> None:
    home = "/home/alice"
    text = ('File "/home/alice/proj/run.py", line 3; cache /home/alice; '
            "other /home/alicex/a and /srv/home/alice/b")
    assert shorten_home(text, home) == (
        'File "~/proj/run.py", line 3; cache ~; other /home/alicex/a and /srv/home/alice/b')
    assert clean(f"{home}/.cache HF_TOKEN={HF_TOKEN}", home) == "~/.cache HF_TOKEN=***"


# -- the session log ---------------------------------------------------------------------------

def write_session(path: Path, records: list[tuple[str, str]]) -> Path:
    log = SessionLog(path)
    for kind, text in records:
        log.write(kind, text)
    log.close()
    return path


def fixture_text(name: str) -> str:
    return (LOGS / name).read_text(encoding="utf-8")


def test_session_lines_parse_with_their_leading_spaces(tmp_path: Path) -> None:
    path = write_session(tmp_path / "s.log", [("ENGINE", '  File "x.py", line 1'),
                                               ("EVENT", '{"event": "pong"}'), ("CMD", "{}")])
    records = read_session_log(path)
    assert [(r.kind, r.text) for r in records] == [
        ("ENGINE", '  File "x.py", line 1'), ("EVENT", '{"event": "pong"}'), ("CMD", "{}")]
    assert records[0].ts is not None and abs(records[0].ts - time.time()) < 60
    assert parse_session_line("not a session log line") is None


def test_tail_reads_the_end_of_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(200_000)))
    assert tail_lines(path, 3) == ["line 199997", "line 199998", "line 199999"]
    assert tail_lines(path, 0) == []


def test_diagnose_session_log_finds_tracebacks_and_deaths(tmp_path: Path) -> None:
    traceback = fixture_text("corrupt_checkpoint/truncated_safetensors.log").splitlines()
    path = write_session(tmp_path / "session-1.log", [
        ("CLIENT", "engine started: pid 11: python -m console.worker.worker"),
        ("CMD", '{"v":1,"cmd":"load","id":1,"model":"/m"}'),
        *[("ENGINE", line) for line in traceback],
        ("EVENT", '{"v": 1, "event": "error", "ts": 1.0, "id": 1, "command": "load", '
                  '"error_type": "SafetensorError", "message": "incomplete metadata", '
                  '"hint": "download it again", "traceback": ""}'),
        ("EVENT", '{"v": 1, "event": "error", "ts": 2.0, "id": 2, "command": "load", '
                  '"error_type": "ModelNotFound", "message": "/nope: no such directory", '
                  '"hint": "check the path"}'),
        ("ENGINE", "Loading weights:  40%|####      | 8/20"),
        ("CLIENT", "engine pid 11 ended (killed by SIGKILL) unexpectedly"),
    ])
    records = diagnose_session_log(path)
    assert [r.top.id for r in records if r.top] == ["corrupt_checkpoint", "missing_file",
                                                    "host_oom"]
    assert [r.error.kind for r in records] == ["traceback", "engine", "exit"]
    reported = engine_errors(read_session_log(path))
    assert len(reported) == 2
    assert reported[0].endswith("load: SafetensorError: incomplete metadata (fix: download it "
                                "again)")
    assert reported[1].endswith("load: ModelNotFound: /nope: no such directory (fix: check the "
                                "path)")
    # A kill the console asked for is not a death to explain.
    quiet = write_session(tmp_path / "session-2.log", [
        ("ENGINE", "Loading weights:  40%|####      | 8/20"),
        ("CLIENT", "engine pid 12 ended (killed by SIGKILL)"),
    ])
    assert diagnose_session_log(quiet) == []


def test_newest_session_log(tmp_path: Path) -> None:
    assert newest_session_log(tmp_path) is None
    old = write_session(tmp_path / "session-20260101-000000-1.log", [("CLIENT", "a")])
    new = write_session(tmp_path / "session-20260102-000000-1.log", [("CLIENT", "b")])
    os.utime(old, (1, 1))
    (tmp_path / "other.log").write_text("x")
    assert newest_session_log(tmp_path) == new


# -- the bundle --------------------------------------------------------------------------------

SECTIONS = ("## doctor", "## telemetry (last sample)", "## model: pre-flight and estimate",
            "## last errors and their diagnosis", "## session log (tail)")


def planted_report() -> Report:
    return Report((
        Check("python", "pass", "Python", "Python 3.11.7",
              {"executable": "/home/alice/.venv/bin/python"}),
        Check("hf_cache", "warn", "HF cache", "not writable",
              {"env": f"HF_TOKEN={HF_TOKEN}", "path": "/home/alice/.cache/huggingface"},
              "fix the permissions"),
    ), elapsed_s=0.5)


def test_bundle_has_every_section_and_no_secret(tmp_path: Path) -> None:
    home = "/home/alice"
    traceback = fixture_text("corrupt_checkpoint/truncated_safetensors.log").splitlines()
    log = write_session(tmp_path / "session.log", [("ENGINE", line) for line in traceback])
    with log.open("a") as fh:  # lines from a writer that did not redact (an older client)
        for line in PLANTED:
            fh.write(f"2026-01-01T00:00:00.000 ENGINE {line}\n")
        fh.write(f"2026-01-01T00:00:00.000 ENGINE cache at {home}/.cache/huggingface/hub\n")
    causes = diagnose_text("\n".join([*traceback, f"Authorization: Bearer {BEARER}"]))
    from console.core.diagnose import DiagnosedError

    error = DiagnosedError("traceback", 0, len(traceback), "SafetensorError: incomplete metadata",
                           tuple(causes))
    record = ErrorRecord(error, ts=1_700_000_000.0,
                         facts=("RAM 40% used", f"HF_TOKEN={HF_TOKEN} in {home}/.bashrc"))
    out = write_bundle(tmp_path / "bundle.txt", doctor_report=planted_report(), sample=h100_at(3),
                       check_result=None, diagnosed_errors=[record], session_log_path=log,
                       check_problem="no model selected", notes=[f"token {HF_TOKEN}"], home=home)
    text = out.read_text()
    for section in SECTIONS:
        assert section in text
    assert not any(secret in text for secret in SECRETS)
    assert home not in text and "~/.cache/huggingface" in text
    assert "NVIDIA H100 80GB HBM3" in text  # the telemetry sample
    assert "corrupt_checkpoint" in text and "live facts at the time:" in text
    assert "no model checked: no model selected" in text
    assert "Traceback (most recent call last):" in text  # the log tail
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary name


def test_bundle_tail_is_bounded(tmp_path: Path) -> None:
    log = write_session(tmp_path / "session.log", [("ENGINE", f"line {i}") for i in range(1000)])
    text = build_bundle(session_log_path=log, tail=300)
    assert "ENGINE line 999" in text and "ENGINE line 700" in text
    assert "ENGINE line 699" not in text
    assert "(last 300 lines)" in text


# -- the command -------------------------------------------------------------------------------

def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240, check=False)


def test_bundle_command_end_to_end(tmp_path: Path) -> None:
    """The real doctor (its torch probe included), a real sample, a model check and the newest
    session log of the log directory, in a subprocess; secrets in the environment and the log
    never reach the file."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    traceback = fixture_text("missing_file/wrong_local_path.log").splitlines()
    write_session(log_dir / "session-20260101-000000-1.log", [("ENGINE", "old session")])
    newest = write_session(log_dir / "session-20260102-000000-1.log",
                           [("ENGINE", line) for line in traceback])
    os.utime(log_dir / "session-20260101-000000-1.log", (1, 1))
    with newest.open("a") as fh:
        fh.write(f"2026-01-02T00:00:00.000 ENGINE HF_TOKEN={HF_TOKEN}\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama", "architectures": '
                                       '["LlamaForCausalLM"]}')
    env = {**os.environ, "AUTOGLM_CONSOLE_LOG_DIR": str(log_dir), "HF_TOKEN": HF_TOKEN,
           "PYTHONPATH": str(REPO)}
    out_path = tmp_path / "out.txt"
    done = run_cli(["bundle", str(out_path), "--model", str(model)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out_path)
    text = out_path.read_text()
    for section in SECTIONS:
        assert section in text
    assert HF_TOKEN not in text
    assert "PyTorch" in text and "torch " in text  # the doctor ran its probe
    assert "RAM " in text  # the telemetry sample
    assert f"check {model}" in text or "check ~" in text  # the model's pre-flight
    assert "missing_file" in text  # the newest log, diagnosed
    assert "old session" not in text
    # A directory as PATH: a timestamped name inside it; usage errors exit 2.
    done = run_cli(["bundle", str(tmp_path), "--no-doctor"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).name.startswith("autoglm-bundle-")
    assert "doctor" in Path(done.stdout.strip()).read_text()
    done = run_cli(["bundle", str(tmp_path / "no" / "such" / "dir.txt"), "--no-doctor"], env,
                   tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = run_cli(["bundle", "--tail", "-1"], env, tmp_path)
    assert done.returncode == 2


def test_bundle_command_never_imports_textual_or_torch(tmp_path: Path) -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from console.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['bundle', {str(tmp_path / 'b.txt')!r}, '--no-doctor']) == 0\n"
        "print(json.dumps([m for m in ('textual', 'torch', 'transformers') if m in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "b.txt").exists()
