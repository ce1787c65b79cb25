"""`autoglm-console` entry point: `main(argv) -> int`.

Sub-commands live in `console/commands/<name>.py`, each with `add_arguments(parser)` and
`run(args, config) -> int`. Those modules must stay light at import (no torch, no textual):
heavy imports go inside `run`. The TUI is imported only in the branch that starts it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from console import __version__
from console.core.termsafe import quiet_broken_pipe, safe_std_streams
from console.host.config import (
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    Config,
    ConfigError,
    check_interval,
    load_config,
)

# name -> (module, one-line help). Each module: add_arguments(parser), run(args, config) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "monitor": ("console.commands.monitor", "print telemetry samples without the TUI"),
    "config": ("console.commands.config", "print the default config, or check a config file"),
    "doctor": ("console.commands.doctor", "check the environment: driver, torch, CUDA, packages"),
    "check": ("console.commands.check",
              "is a model whole, and does it fit here now (headers only)"),
    "load": ("console.commands.load",
             "load a model in the engine without the TUI, optionally generate, unload"),
    "bundle": ("console.commands.bundle",
               "write one paste-ready diagnostic file (doctor, telemetry, errors, log tail)"),
    "diagnose": ("console.commands.diagnose",
                 "name the root causes of a failure in a log (FILE or stdin)"),
    "fingerprint": ("console.commands.fingerprint",
                    "record how a model behaves here, to compare on another machine"),
    "compare": ("console.commands.compare",
                "compare two fingerprints: identical, close, or what differs"),
    "serve": ("console.commands.serve",
              "start vLLM, SGLang or transformers serve and guard it (MODEL --engine E -- ARGS)"),
    "attach": ("console.commands.attach",
               "watch a process started elsewhere: memory, log, health, metrics"),
    "run": ("console.commands.run",
            "run any command under supervision: memory, live diagnosis, guard, exit code"),
}


_GLOBAL_OPTIONS_WITH_VALUE = ("--config", "--interval", "--model", "--log")


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in argv, if any (skipping the values of global options)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
            continue
        if token.startswith("-"):
            continue
        return token if token in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; with `argv`, only the sub-command it names is populated, so starting
    the dashboard imports no command module (start-up time)."""
    parser = argparse.ArgumentParser(
        prog="autoglm-console",
        description="Load, watch and drive a local Hugging Face model. "
        "With no command, opens the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"autoglm-console {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument(
        "--interval", metavar="SECONDS", type=float,
        help=f"sampling interval in seconds (default 1, {MIN_INTERVAL_S} to {MAX_INTERVAL_S:g})",
    )
    parser.add_argument(
        "--model", metavar="MODEL",
        help="model to select in the dashboard: a directory, a hub id in the local cache, or "
             "'demo'",
    )
    parser.add_argument(
        "--log", metavar="FILE", dest="log_file",
        help="open the dashboard on the Log tab following FILE (any log; errors get cause cards)",
    )
    parser.add_argument(
        "--no-prestart", action="store_true",
        help="do not start the engine process when the console opens (config: "
        "[engine] prestart = false); it then starts on the first load",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen_command(argv) if argv is not None else None
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if argv is None or name == chosen:
            importlib.import_module(module_name).add_arguments(sp)
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    config = load_config(Path(args.config) if args.config else None)
    if args.interval is not None:
        interval = check_interval("--interval", "interval", float(args.interval))
        config = config.with_overrides(interval_s=interval)
    if getattr(args, "no_prestart", False):
        config = config.with_overrides(prestart=False)
    return config


def _split_remainder(argv: list[str]) -> tuple[list[str], list[str] | None, str | None]:
    """For commands that pass arguments on (`serve ... -- ENGINE ARGS`, `run -- CMD`): argv
    up to the first '--' after the command, the words after it, and where they go."""
    chosen = _chosen_command(argv)
    if chosen is None or "--" not in argv:
        return argv, None, None
    dest = getattr(importlib.import_module(COMMANDS[chosen][0]), "REMAINDER_DEST", None)
    if dest is None or argv.index("--") < argv.index(chosen):
        return argv, None, None
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:], str(dest)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv) if argv is not None else sys.argv[1:]
    argv, remainder, dest = _split_remainder(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if remainder is not None and dest is not None:
        setattr(args, dest, [*getattr(args, dest, []), *remainder])
    try:
        config = resolve_config(args)
    except ConfigError as exc:
        print(f"autoglm-console: {exc}", file=sys.stderr)
        return 2
    if args.command is None:
        from console.app import run_app  # the only branch that imports textual

        if args.log_file is not None and not Path(args.log_file).is_file():
            problem = "no such file" if not Path(args.log_file).exists() else "not a regular file"
            print(f"autoglm-console: --log {args.log_file}: {problem}", file=sys.stderr)
            return 2
        return run_app(config, model=args.model, log_file=args.log_file)
    module = importlib.import_module(COMMANDS[args.command][0])
    # Nothing a command prints reaches the terminal raw (model text, log lines, file names).
    with safe_std_streams():
        try:
            status = int(module.run(args, config))
            if sys.stdout is not None:
                sys.stdout.flush()  # a reader gone away shows here, not at interpreter exit
            return status
        except ConfigError as exc:
            print(f"autoglm-console: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            return quiet_broken_pipe()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
