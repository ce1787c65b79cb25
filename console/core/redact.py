"""Secrets out of text that leaves the process: the session log, bundles, copied cards.

One place for the patterns, so every writer redacts the same way. `redact(text)` replaces
token-like values with `***` and keeps what they were attached to (the variable name, the
header name), so a reader still sees that a token was set. `shorten_home(text)` writes the
user's home directory as `~`. No I/O, no textual, no torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MASK = "***"

# Names that hold secrets, as environment variables or config keys are written:
# HF_TOKEN, HUGGING_FACE_HUB_TOKEN, AWS_SECRET_ACCESS_KEY, OPENAI_API_KEY, DB_PASSWORD...
# Upper case only: lower-case keys such as `missing_keys` or `num_key_value_heads` are model
# facts, not secrets.
_SECRET_NAME = (r"[A-Z][A-Z0-9_]*?(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIALS?)"
                r"(?:_[A-Z0-9]+)*")
_LOWER_SECRET_NAME = (r"(?:hf_token|token|auth_token|access_token|api_key|apikey|secret|"
                      r"password|passwd|use_auth_token)")

# (triggers, pattern, replacement), applied in order. A rule runs only on text that contains
# one of its triggers (lower-cased triggers are looked up in the lower-cased text, the others
# as written): most log lines contain none, and the session log redacts every line it writes.
_Rule = tuple[tuple[str, ...], re.Pattern[str], str]
_RULES: tuple[_Rule, ...] = (
    # PEM private keys (whole block when the text holds it; the first line otherwise).
    (("private key",),
     re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
                re.DOTALL), "-----BEGIN PRIVATE KEY----- " + MASK),
    # Authorization headers and bare bearer tokens.
    (("authoriz",),
     re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+)[^\s\"',;]+"),
     r"\1" + MASK),
    (("bearer",), re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    # user:password@ in URLs.
    (("://",), re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"),
     r"\1" + MASK + ":" + MASK + "@"),
    # NAME=value, NAME: value, "NAME": "value" for secret-looking names.
    (("TOKEN", "SECRET", "PASSW", "PASSPHRASE", "KEY", "CREDENTIAL"),
     re.compile(r"(\b" + _SECRET_NAME + r"[\"']?\s*[=:]\s*[\"']?)(?!\*\*\*)[^\s\"',;}]+"),
     r"\1" + MASK),
    (("token", "secret", "passw", "api_key", "apikey"),
     re.compile(r"(?<![\w.])(" + _LOWER_SECRET_NAME + r"[\"']?\s*[=:]\s*[\"']?)(?!\*\*\*)"
                r"(?!None\b|True\b|False\b)[^\s\"',;)}]+"), r"\1" + MASK),
    # Command-line flags: --token X, --hf-token=X, --api-key X.
    (("--",),
     re.compile(r"(?i)(--(?:hf[-_])?(?:token|api[-_]key|password|secret)[= ]\s*)[^\s\"']+"),
     r"\1" + MASK),
    # Token formats recognisable on their own, wherever they appear.
    (("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "hf_" + MASK),
    (("api_org_",), re.compile(r"\bapi_org_[A-Za-z0-9]{20,}"), "api_org_" + MASK),
    (("gh",), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "gh_" + MASK),
    (("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"), "github_pat_" + MASK),
    (("sk-",), re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), "sk-" + MASK),
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "xox-" + MASK),
    (("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "AKIA" + MASK),
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
