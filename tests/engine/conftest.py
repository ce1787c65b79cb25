"""Engine test fixtures: real tiny models built once per session, a real engine per module."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.engines.local import EngineClient

ARCHS = ("llama", "qwen2", "glm4", "gpt2", "glm4v")

REMOTE_CONFIG = '''from transformers import LlamaConfig


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny_remote"
'''
REMOTE_MODELING = '''from transformers import LlamaForCausalLM

from .configuration_tiny_remote import TinyRemoteConfig


class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig
'''


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> model directory: the tiny archs plus the odd cases the engine must refuse."""
    from console.worker import tinymodels

    root = tmp_path_factory.mktemp("models")
    out: dict[str, Path] = {}
    for arch in ARCHS:
        out[arch] = tinymodels.build(arch, root / arch)

    # Needs remote code: config with auto_map and the .py files it names.
    remote = root / "remote"
    shutil.copytree(out["llama"], remote)
    config = json.loads((remote / "config.json").read_text())
    config["model_type"] = "tiny_remote"
    config["architectures"] = ["TinyRemoteForCausalLM"]
    config["auto_map"] = {
        "AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
        "AutoModelForCausalLM": "modeling_tiny_remote.TinyRemoteForCausalLM",
    }
    (remote / "config.json").write_text(json.dumps(config))
    (remote / "configuration_tiny_remote.py").write_text(REMOTE_CONFIG)
    (remote / "modeling_tiny_remote.py").write_text(REMOTE_MODELING)
    out["remote"] = remote

    unknown = root / "unknown"
    shutil.copytree(out["llama"], unknown)
    config = json.loads((unknown / "config.json").read_text())
    config["model_type"] = "not_a_real_arch_xyz"
    (unknown / "config.json").write_text(json.dumps(config))
    out["unknown"] = unknown

    no_weights = root / "no_weights"
    shutil.copytree(out["llama"], no_weights)
    for weights in no_weights.glob("*.safetensors"):
        weights.unlink()
    out["no_weights"] = no_weights

    # .bin pickles: one of plain tensors (weights_only=True can read it), one that also holds
    # a numpy array (needs full unpickling, i.e. the user's explicit opt-in).
    import numpy as np
    import torch
    from safetensors.torch import load_file

    state = load_file(out["llama"] / "model.safetensors")
    for name, extra in (("bin_safe", None), ("bin_unsafe", np.arange(3))):
        directory = root / name
        shutil.copytree(out["llama"], directory)
        (directory / "model.safetensors").unlink()
        pickled: dict[str, object] = dict(state)
        if extra is not None:
            pickled["extra_blob"] = extra
        torch.save(pickled, directory / "pytorch_model.bin")
        out[name] = directory

    # Several shards, so a slowed load has many tensors and a file name to report.
    out["sharded"] = tinymodels.build("llama", root / "sharded", max_shard_size="20KB")
    return out


def start_client(tmp_path: Path, **env: str) -> EngineClient:
    full_env = {"HF_MODULES_CACHE": str(tmp_path / "hf_modules"), **env}
    client = EngineClient(env=full_env)
    client.start()
    hello = client.wait_for("hello", timeout=120)
    assert hello["event"] == "hello", hello
    return client


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineClient]:
    """One real engine process shared by a module's tests (they unload after themselves)."""
    client = start_client(tmp_path_factory.mktemp("engine"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def slow_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineClient]:
    """An engine whose loads sleep 50 ms before each tensor (the test-only knob): a load lasts
    long enough to act mid-way, deterministically. One per test module."""
    client = start_client(tmp_path_factory.mktemp("slow-engine"),
                          AUTOGLM_ENGINE_TEST_SLOW_LOAD_S="0.05")
    yield client
    client.close()
