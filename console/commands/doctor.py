"""`autoglm-console doctor [--json]`: check the environment before loading a model.

Exit 0 when no check fails (warnings allowed), 1 when one does, 2 for usage errors.
Light at import: the checks run in `run`, and torch only in the probe subprocess.
"""

from __future__ import annotations

import argparse
import json
import sys

from console.host.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every fact")
    parser.add_argument(
        "--python", metavar="PATH",
        help="the Python the engine runs with (default: this one); torch is probed there",
    )
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=90.0,
        help="how long the torch probe may take (default 90)",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    from console.core.doctor_judge import format_report
    from console.host.doctor import run_doctor

    if args.timeout <= 0:
        print(f"autoglm-console doctor: --timeout must be positive, got {args.timeout}",
              file=sys.stderr)
        return 2
    report = run_doctor(python=args.python, probe_timeout_s=args.timeout, hf_cache=config.hf_cache)
    if args.json:
        print(json.dumps(report.to_json_dict(), indent=2, default=str))
    else:
        print(format_report(report, verbose=args.verbose))
    return report.exit_code
