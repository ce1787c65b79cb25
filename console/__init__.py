"""autoglm-console: load, watch and drive a local Hugging Face model from a terminal."""

from __future__ import annotations

__version__ = "0.1.0"
