"""Random-weight models built from configs (no download): the demo model and test fixtures.

`build(arch, dest)` writes a complete model directory (config.json, safetensors weights,
generation_config.json, a tokenizer built here with `tokenizers`, a chat template). Shapes are
tiny by default; `overrides` reaches any config field so GPU scripts can build real-size shapes.
Engine side only: imports torch and transformers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
_CORPUS = (
    "the quick brown fox jumps over the lazy dog . a model loads weights onto the gpu and "
    "generates tokens one by one ; memory is watched while it loads . hello world ! what is "
    "the answer to life , the universe and everything ? forty two . glm llama qwen mistral "
    "gemma gpt phone agent screen tap swipe type back home open app settings"
)

# Tiny shapes per architecture (hidden 64, 2 layers). Keys are our names for the archs.
_TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}

ARCHS = ("llama", "qwen2", "mistral", "glm", "glm4", "gpt2", "gemma", "mixtral", "glm4v")


def _config(arch: str, vocab_size: int, overrides: dict[str, Any]) -> Any:
    import transformers as tf

    text = dict(_TINY_TEXT)
    if arch == "gpt2":
        cfg: Any = tf.GPT2Config(
            vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=4, n_positions=512,
            bos_token_id=2, eos_token_id=3, pad_token_id=0,
        )
    elif arch == "glm4v":
        vision = {
            "hidden_size": 32, "depth": 2, "num_heads": 2, "intermediate_size": 64,
            "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
            "out_hidden_size": 64, "image_size": 56,
        }
        text_cfg = {**text, "vocab_size": vocab_size, "head_dim": 16, "partial_rotary_factor": 0.5,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                        "mrope_section": [1, 1, 2], "partial_rotary_factor": 0.5}}
        # Overrides of text fields go into the text config at construction, so derived
        # fields see them; "vision_config" (a dict) updates the vision part.
        text_keys = set(tf.Glm4vTextConfig().to_dict())
        vision.update(overrides.pop("vision_config", {}))
        for key in [k for k in overrides if k in text_keys and k not in ("model_type",)]:
            text_cfg[key] = overrides.pop(key)
        # token ids as **kwargs: some transformers releases type Glm4vConfig without them
        token_ids: dict[str, Any] = {"bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0}
        cfg = tf.Glm4vConfig(text_config=text_cfg, vision_config=vision, **token_ids)
    else:
        cls = {
            "llama": tf.LlamaConfig, "qwen2": tf.Qwen2Config, "mistral": tf.MistralConfig,
            "glm": tf.GlmConfig, "glm4": tf.Glm4Config, "gemma": tf.GemmaConfig,
            "mixtral": tf.MixtralConfig,
        }[arch]
        extra: dict[str, Any] = {}
        if arch == "mixtral":
            extra = {"num_local_experts": 4, "num_experts_per_tok": 2}
        if arch == "gemma":
            extra = {"head_dim": 16}
        # Overrides go to the constructor so derived fields (head_dim = hidden / heads) follow.
        kwargs = {"vocab_size": vocab_size, "bos_token_id": 2, "eos_token_id": 3,
                  "pad_token_id": 0, **text, **extra, **overrides}
        overrides = {}
        cfg = cls(**kwargs)
    for key, value in overrides.items():
        target = cfg.text_config if (arch == "glm4v" and hasattr(cfg.text_config, key)
                                     and not hasattr(cfg, key)) else cfg
        setattr(target, key, value)
    return cfg


def build_tokenizer(dest: Path, vocab_size: int = 256, extra_tokens: Sequence[str] = ()) -> Any:
    """A small byte-level BPE tokenizer trained here, with a chat template. `extra_tokens` are
    added as whole (non-special) tokens, e.g. a terminal escape sequence for the attack tests."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    if extra_tokens:
        tok.add_tokens([AddedToken(t, normalized=False) for t in extra_tokens])
    fast_class: Any = PreTrainedTokenizerFast  # untyped __init__ in some transformers releases
    fast = fast_class(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(str(dest))
    return fast


def model_class_for(config: Any) -> Any:
    import transformers as tf

    if config.model_type == "glm4v":
        return tf.AutoModelForImageTextToText
    return tf.AutoModelForCausalLM


def build(
    arch: str,
    dest: str | Path,
    *,
    dtype: str = "float32",
    seed: int = 0,
    tie_word_embeddings: bool | None = None,
    max_shard_size: str | int | None = None,
    overrides: dict[str, Any] | None = None,
    with_tokenizer: bool = True,
    device: str = "cpu",
    extra_tokens: Sequence[str] = (),
    always_emit: str | None = None,
) -> Path:
    """Write a random-weight `arch` model to `dest` and return the path.

    `extra_tokens` go into the tokenizer as whole tokens. `always_emit` (gpt2 only; one of
    `extra_tokens`) sets the weights so greedy decoding emits that token at every step: the
    final layer norm outputs a constant vector and the tied embedding scores that token
    highest (a hostile-model fixture)."""
    import torch

    if arch not in ARCHS:
        raise ValueError(f"unknown tiny arch {arch!r}; one of {', '.join(ARCHS)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    vocab = 256
    tokenizer: Any = None
    if with_tokenizer:
        tokenizer = build_tokenizer(dest, vocab_size=vocab, extra_tokens=extra_tokens)
        vocab = len(tokenizer)
    ov = dict(overrides or {})
    if tie_word_embeddings is not None:
        ov["tie_word_embeddings"] = tie_word_embeddings
    config = _config(arch, ov.pop("vocab_size", vocab), ov)
    torch.manual_seed(seed)
    torch_dtype = getattr(torch, dtype)
    with torch.device(device):
        model = model_class_for(config).from_config(config, dtype=torch_dtype)
    if always_emit is not None:
        if arch != "gpt2" or tokenizer is None or always_emit not in extra_tokens:
            raise ValueError("always_emit needs arch 'gpt2' and the token in extra_tokens")
        target = tokenizer.convert_tokens_to_ids(always_emit)
        with torch.no_grad():
            model.transformer.ln_f.weight.zero_()
            model.transformer.ln_f.bias.zero_()
            model.transformer.ln_f.bias[0] = 1.0  # final hidden state: e_0, whatever the input
            model.transformer.wte.weight[:, 0] = 0.0
            model.transformer.wte.weight[target, 0] = 10.0  # logits = wte[:, 0]: target wins
    kwargs: dict[str, Any] = {}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    model.save_pretrained(str(dest), **kwargs)
    del model
    return dest


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
