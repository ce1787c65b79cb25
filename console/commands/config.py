"""`autoglm-console config`: print the default file, check a file, show where it lives.

    autoglm-console config --default        the defaults as a commented TOML file
    autoglm-console config --check [PATH]   validate PATH (or the file in use): "ok: PATH" or one
                                            error line and exit code 2
    autoglm-console config                  the config file path and whether it exists
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.host import paths
from console.host.config import Config, default_toml, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--default", action="store_true",
                      help="print the default configuration (TOML)")
    what.add_argument(
        "--check", nargs="?", const="", metavar="PATH",
        help="validate PATH (default: the file in use); exit 2 with one line if it is bad",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    if args.default:
        sys.stdout.write(default_toml())
        return 0
    if args.check is not None:
        # A bad file in use already failed in main() with its one line and exit 2.
        checked = load_config(Path(args.check)) if args.check else config
        print(f"ok: {checked.source}")
        return 0
    path = paths.default_config_path()
    print(f"{path} ({'exists' if path.exists() else 'absent: defaults in use'}); in use: "
          f"{config.source}")
    return 0
