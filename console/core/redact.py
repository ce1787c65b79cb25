"""Secrets out of text that leaves the process: the session log, bundles, copied cards.

One place for the patterns, so every writer redacts the same way. `redact(text)` replaces
token-like values with `***` and keeps what they were attached to (the variable name, the
header name), so a reader still sees that a token was set. `shorten_home(text)` writes the
user's home directory as `~`. No I/O, no textual, no torch.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

MASK = "***"

# Names that hold secrets, as environment variables or config keys are written:
# HF_TOKEN, HUGGING_FACE_HUB_TOKEN, AWS_SECRET_ACCESS_KEY, OPENAI_API_KEY, DB_PASSWORD...
# Upper case only: lower-case keys such as `missing_keys` or `num_key_value_heads` are model
# facts, not secrets.
_SECRET_NAME = (r"[A-Z][A-Z0-9_]*?(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIALS?)"
                r"(?:_[A-Z0-9]+)*")
# Any case: names whose last word is a secret word (client_secret, aws_secret_access_key,
# db-password, x-api-key, Private-Key), and the token names that are not tokenizer fields
# (pad_token, eos_token are model facts; auth_token, hf_token are secrets).
_ANY_SECRET_NAME = (
    r"(?:[a-z0-9]+[_-])*(?:secret|password|passwd|passphrase|pwd|api[_-]?key|apikey"
    r"|access[_-]?key(?:[_-]id)?|secret[_-]?key|private[_-]?key|signing[_-]?key|credentials?"
    r"|session[_-]?key|auth)"
    r"|(?:[a-z0-9]+[_-])*(?:auth|access|refresh|session|id|hf|api|bot|bearer|github|gitlab"
    r"|slack|oauth|csrf|xsrf|security|private|personal)[_-]?token"
    r"|token|use_auth_token|cookie|set-cookie"
)
# A value after `=` or `:`: a quoted string (spaces, `;` and all), or a run without spaces.
_VALUE = (r"""(?:"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|"""
          r"""(?!\*\*\*)(?!None\b|True\b|False\b|null\b)[^\s"',)}\]]+)""")


def _mask_value(match: re.Match[str]) -> str:
    return _masked(match.group(1), match.group(2))


def _masked(prefix: str, value: str) -> str:
    """`prefix` then the value masked, its quotes kept."""
    if value[:1] in "\"'":
        return prefix + value[0] + MASK + value[0]
    return prefix + MASK


# (triggers, pattern, replacement), applied in order. A rule runs only on text that contains
# one of its triggers (lower-cased triggers are looked up in the lower-cased text, the others
# as written): most log lines contain none, and the session log redacts every line it writes.
_Replacement = str | Callable[[re.Match[str]], str]
_Rule = tuple[tuple[str, ...], re.Pattern[str], _Replacement]
_SECRET_WORDS = ("secret", "passw", "passphrase", "pwd", "key", "credential", "auth", "token",
                 "cookie")
_RULES: tuple[_Rule, ...] = (
    # PEM private keys (whole block when the text holds it; the first line otherwise).
    (("private key",),
     re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY[A-Z ]*-----.*?"
                r"(?:-----END [A-Z ]*PRIVATE KEY[A-Z ]*-----|\Z)", re.DOTALL),
     "-----BEGIN PRIVATE KEY----- " + MASK),
    # Authorization headers (any scheme, or none) and bare bearer tokens.
    (("authoriz",),
     re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
                r"(?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?)(?!\*\*\*)[^\s\"',;]+"
                r"(?:[ \t]+[^\s\"',;]+)*"),
     r"\1" + MASK),
    (("bearer",), re.compile(r"(?i)(\bbearer\s+)(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    # user:password@ in URLs.
    (("://",), re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"),
     r"\1" + MASK + ":" + MASK + "@"),
    # YAML / header style at the start of a line: `password: two words; and more` (the rest
    # of the line is the value).
    (_SECRET_WORDS,
     re.compile(r"(?im)^(\s*(?:export\s+|-\s+)?(?:" + _ANY_SECRET_NAME + r"|(?-i:" + _SECRET_NAME
                + r"))[ \t]*:[ \t]*)(?![\"'\s])(?!\*\*\*)(?!None\b|null\b)([^\n]*[^\s\n])"),
     r"\1" + MASK),
    # NAME=value, NAME: value, "NAME": "value" for secret-looking names.
    (("TOKEN", "SECRET", "PASSW", "PASSPHRASE", "KEY", "CREDENTIAL"),
     re.compile(r"(\b" + _SECRET_NAME + r"[\"']?\s*[=:]\s*)(" + _VALUE + r")"), _mask_value),
    (_SECRET_WORDS,
     re.compile(r"(?i)(?<![\w.-])(" + _ANY_SECRET_NAME + r")([\"']?\s*[=:]\s*)(" + _VALUE + r")"),
     lambda m: _masked(m.group(1) + m.group(2), m.group(3))),
    # Command-line flags: --token X, --hf-token=X, --api-key X, --password X.
    (("--",), re.compile(r"(?i)(--(?:hf[-_])?(?:token|api[-_]key|password|passwd|secret"
                         r"|client[-_]secret)[= ]\s*)[^\s\"']+"),
     r"\1" + MASK),
    # KEY value pairs (netrc, env dumps, ssh-like configs): `password hunter2`, `HF_TOKEN abc`.
    (("TOKEN", "SECRET", "PASSW", "KEY", "CREDENTIAL"),
     re.compile(r"(\b" + _SECRET_NAME + r"[ \t]+)(?![=:\-])(?!\*\*\*)[^\s\"',;]{4,}"),
     r"\1" + MASK),
    (("passw", "secret", "api_key", "apikey", "api-key"),
     re.compile(r"(?i)(?<![\w.-])((?:[a-z0-9]+[_-])*(?:password|passwd|client[_-]secret"
                r"|secret[_-]access[_-]key|api[_-]?key)[ \t]+)(?![=:\-])(?!\*\*\*)"
                r"(?!is\b|was\b|for\b|of\b|and\b|the\b|to\b|in\b)[^\s\"',;]{4,}"),
     r"\1" + MASK),
    # Token formats recognisable on their own, wherever they appear.
    (("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "hf_" + MASK),
    (("api_org_",), re.compile(r"\bapi_org_[A-Za-z0-9]{20,}"), "api_org_" + MASK),
    (("gh",), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "gh_" + MASK),
    (("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"), "github_pat_" + MASK),
    (("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "glpat-" + MASK),
    (("sk-", "sk_"), re.compile(r"\b[sr]k[-_](?:proj-|ant-|live_|test_)?[A-Za-z0-9_-]{20,}"),
     "sk-" + MASK),
    (("xox",), re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{10,}"), "xox-" + MASK),
    (("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "AKIA" + MASK),
    (("AIza",), re.compile(r"\bAIza[A-Za-z0-9_-]{35}\b"), "AIza" + MASK),
    (("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), "npm_" + MASK),
    (("eyJ",), re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"),
     "jwt:" + MASK),
)


def redact(text: str) -> str:
    """`text` with token-like values replaced by `***` (names and header names kept)."""
    lower = text.lower()
    for triggers, pattern, replacement in _RULES:
        if any((t in lower) if t.islower() or not t.isalpha() else (t in text) for t in triggers):
            text = pattern.sub(replacement, text)
            lower = text.lower()
    return text


def redact_json_line(line: str) -> str:
    """A protocol line (one JSON object) with every string inside it redacted as text, so a
    prompt's quotes and newlines (escaped in JSON) are seen as the user wrote them; any other
    line redacted as text."""
    stripped = line.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return redact(line)
    try:
        data = json.loads(stripped)
    except (ValueError, RecursionError):
        return redact(line)
    cleaned = _redact_strings(data)
    if cleaned == data:
        return line  # nothing to hide: the line as it was written
    compact = '": ' not in stripped and '", "' not in stripped
    return json.dumps(cleaned, ensure_ascii=False,
                      separators=(",", ":") if compact else (", ", ": "))


def _redact_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_strings(v) for k, v in value.items()}
    return value


def _home_dirs(home: str | None) -> list[str]:
    candidates = [home] if home is not None else [os.environ.get("HOME") or "", str(Path.home())]
    out: list[str] = []
    for raw in candidates:
        if not raw:
            continue
        for path in (raw.rstrip("/"), os.path.realpath(raw).rstrip("/")):
            if path and path != "/" and path not in out:
                out.append(path)
    return sorted(out, key=len, reverse=True)  # /home/alice/x before /home/alice


def shorten_home(text: str, home: str | None = None) -> str:
    """The home directory written as `~` where it appears as a whole path component."""
    for path in _home_dirs(home):
        text = re.sub(r"(?<![\w./-])" + re.escape(path) + r"(?![\w.-])", "~", text)
    return text


def clean(text: str, home: str | None = None) -> str:
    """Redacted and home-shortened: what a paste-ready file may contain."""
    return shorten_home(redact(text), home)
