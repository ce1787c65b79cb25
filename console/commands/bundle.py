"""`autoglm-console bundle [PATH] [--model MODEL] [--log FILE] [--tail N] [--no-doctor]`:
write one paste-ready diagnostic file (console/host/bundle.py) and print its path.

Runs the doctor, takes one telemetry sample, checks MODEL when given (as `check` does),
diagnoses the newest session log in the log directory (or `--log FILE`), and writes the
bundle: to PATH, into PATH when it is a directory, or to ./autoglm-bundle-<time>.txt.
Exit 0 when written, 1 when it could not be written, 2 for usage errors.
Light at import: the work happens in `run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.host.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", metavar="PATH",
                        help="file to write, or a directory to write it in "
                        "(default: ./autoglm-bundle-<time>.txt)")
    parser.add_argument("--model", metavar="MODEL",
                        help="also check this model: a directory or a hub id in the local cache")
    parser.add_argument("--log", metavar="FILE",
                        help="session log to include (default: the newest in the log directory)")
    parser.add_argument("--tail", type=int, default=300, metavar="N",
                        help="lines of the session log to include (default 300)")
    parser.add_argument("--no-doctor", action="store_true",
                        help="skip the doctor (it runs a torch probe, a few seconds)")


def _usage(message: str) -> int:
    print(f"autoglm-console bundle: {message}", file=sys.stderr)
    return 2


def _check(model: str, config: Config, sample: object) -> tuple[object | None, str | None]:
    """The check result of MODEL, or the reason there is none."""
    from console.commands.check import assess, resolve_model
    from console.core.preflight import check_model_dir

    try:
        model_dir = resolve_model(model, config)
    except LookupError as exc:
        return None, str(exc.args[0]) if exc.args else str(exc)
    try:
        report = check_model_dir(model_dir)
        return assess(model, model_dir, report, sample, config), None
    except Exception as exc:  # the bundle is written whatever the check does
        return None, f"check of {model} failed: {type(exc).__name__}: {exc}"


def run(args: argparse.Namespace, config: Config) -> int:
    from console.core.diagnose import DiagnosisContext
    from console.host import paths
    from console.host.bundle import (
        default_bundle_name,
        diagnose_session_log,
        newest_session_log,
        write_bundle,
    )
    from console.host.telemetry import Telemetry

    if args.tail < 0:
        return _usage(f"--tail: must be 0 or more, got {args.tail}")
    if args.path is None:
        path = Path.cwd() / default_bundle_name()
    else:
        path = Path(args.path).expanduser()
        if path.is_dir():
            path = path / default_bundle_name()
        elif not path.parent.is_dir():
            return _usage(f"{args.path}: the directory {path.parent} does not exist")
    if args.log is not None:
        log_path: Path | None = Path(args.log).expanduser()
        if not Path(args.log).expanduser().is_file():
            return _usage(f"--log: {args.log}: no such file")
    else:
        log_path = newest_session_log(paths.log_dir())

    notes: list[str] = []
    doctor_report = None
    doctor_problem = "skipped (--no-doctor)" if args.no_doctor else None
    if not args.no_doctor:
        from console.host.doctor import run_doctor

        try:
            doctor_report = run_doctor(hf_cache=config.hf_cache)
        except Exception as exc:  # the doctor's contract is never to raise; still write the rest
            doctor_problem = f"the doctor failed: {type(exc).__name__}: {exc}"

    telemetry = Telemetry()
    try:
        sample = telemetry.sample()
    finally:
        telemetry.close()

    check_result, check_problem = (None, None) if args.model is None else _check(args.model, config,
                                                                                 sample)

    errors = []
    if log_path is None:
        notes.append(f"no session log in {paths.log_dir()}")
    else:
        try:
            # Memory now is not memory then: only the session's own exit facts are used.
            errors = diagnose_session_log(log_path, DiagnosisContext())
        except OSError as exc:
            notes.append(f"{log_path}: cannot read: {exc.strerror or exc}")
    try:
        written = write_bundle(
            path, doctor_report=doctor_report, sample=sample, check_result=check_result,
            diagnosed_errors=errors, session_log_path=log_path, tail=args.tail,
            doctor_problem=doctor_problem, check_problem=check_problem, notes=notes,
        )
    except OSError as exc:
        print(f"autoglm-console bundle: cannot write {path}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(written)
    return 0
