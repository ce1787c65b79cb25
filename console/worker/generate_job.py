"""The generate and fingerprint jobs: chat template, the guard's and the user's stop, the
token stream, the `generated` figures; sha256 of tensors and logits (parity)."""

from __future__ import annotations

import gc
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from console.core import protocol
from console.worker.base import EngineParts, Loaded
from console.worker.errors import (
    BadCommand,
    BadImage,
    EngineError,
    ImagesRefused,
    NotLoaded,
    WillNotFit,
    _strip,
)
from console.worker.generate import _EventStreamer, _StopOnFlag, _StopOnGuard
from console.worker.memory import (
    cache_tensor_bytes,
    malloc_trim,
)


class GenerateJob(EngineParts):
    """The engine's generate and fingerprint jobs (parts of `console.worker.worker.Engine`)."""

    def _job_generate(self, msg: protocol.Generate) -> None:
        reply_to = msg.id
        self.set_state("generating", reply_to)
        tb_text = ""
        failure: BaseException | None = None
        try:
            self._generate(msg)
        except EngineError as exc:
            failure = _strip(exc)
        except BaseException as exc:
            tb_text = traceback.format_exc()
            failure = _strip(exc)  # frames would pin the KV cache
        if failure is not None:
            if tb_text:
                sys.stderr.write(tb_text)
                sys.stderr.flush()
            self._job_finishing()
            self._error(reply_to, "generate", failure, tb_text)
            failure = None
            for name in ("last_type", "last_value", "last_traceback", "last_exc"):
                if hasattr(sys, name):
                    setattr(sys, name, None)
            gc.collect()
        self.set_state("loaded" if self.loaded is not None else "idle", reply_to)

    def _generate(self, msg: protocol.Generate) -> None:
        torch = self.torch
        loaded = self.loaded
        if loaded is None:
            raise NotLoaded("generate: no model is loaded", "load a model first")
        tok = loaded.tokenizer
        if tok is None:
            raise NotLoaded("generate: the model has no tokenizer", "add tokenizer files")
        reply_to = msg.id
        prompt = msg["prompt"]
        max_new_tokens = int(msg.get("max_new_tokens") or 64)
        temperature = float(msg.get("temperature") or 0.0)
        top_p = msg.get("top_p")
        seed = msg.get("seed")
        use_chat = bool(msg.get("chat", True)) and bool(getattr(tok, "chat_template", None))
        model = loaded.model
        image_paths = msg.images or []
        image_fields: dict[str, Any] = {}
        if image_paths:  # issue 16: the model's processor builds the inputs (worker/images.py)
            enc, image_fields = self._image_inputs(loaded, prompt, image_paths, reply_to)
            use_chat = True
        elif use_chat:
            enc = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                          add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
        else:
            enc = tok(prompt, return_tensors="pt")
        enc = {k: v.to(model.device) for k, v in enc.items()}
        prompt_tokens = int(enc["input_ids"].shape[-1])
        if image_paths:
            self._admit_image_prompt(loaded, image_fields, prompt_tokens, max_new_tokens)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            kwargs["temperature"] = temperature
            if top_p is not None:
                kwargs["top_p"] = float(top_p)
        if msg.get("min_new_tokens"):
            kwargs["min_new_tokens"] = int(msg["min_new_tokens"])
        if getattr(model.generation_config, "pad_token_id", None) is None:
            kwargs["pad_token_id"] = tok.pad_token_id if tok.pad_token_id is not None \
                else tok.eos_token_id
        if seed is not None:
            torch.manual_seed(int(seed))
        streamer = _EventStreamer(self.emit, reply_to, tok, loaded.info["kv_bytes_per_token"],
                                  prompt_tokens)
        from transformers import StoppingCriteriaList

        stop = _StopOnFlag(self.stop_generation)
        kv_per_token = loaded.info.get("kv_bytes_per_token_estimate") or \
            loaded.info["kv_bytes_per_token"]
        guard_stop = _StopOnGuard(self.guard, str(model.device), kv_per_token, prompt_tokens)
        from console.worker.images import PeakRss

        peak = None
        cuda_index = (model.device.index or 0) if model.device.type == "cuda" else None
        cuda_base: tuple[int, int] | None = None
        if image_paths:  # issue 16: the vision pass's peak, with freed heap pages given back
            gc.collect()
            malloc_trim()
            peak = PeakRss.start()
            if cuda_index is not None:  # the allocator's own peak, beside NVML's
                torch.cuda.reset_peak_memory_stats(cuda_index)
                cuda_base = (int(torch.cuda.memory_allocated(cuda_index)),
                             int(torch.cuda.memory_reserved(cuda_index)))
        t0 = time.perf_counter()
        streamer.t0 = t0
        with torch.inference_mode():
            out = model.generate(**enc, streamer=streamer, stopping_criteria=StoppingCriteriaList(
                [stop, guard_stop]), return_dict_in_generate=True, **kwargs)
        total_s = time.perf_counter() - t0
        if peak is not None:
            image_fields["rss_peak_growth_bytes"] = peak.growth()
        kv_measured = cache_tensor_bytes(getattr(out, "past_key_values", None))
        new_ids = out.sequences[0, prompt_tokens:].tolist()
        del out  # drop the KV cache now
        # and the inputs (pixel_values on the GPU): alive, their blocks would survive the
        # empty_cache below and stay cached for the next prompt (the H200 run of session 6:
        # ~530 MB cached at a row's start, reused without NVML growing: under-measured rows)
        del enc
        if cuda_index is not None and cuda_base is not None:
            image_fields["cuda_peak_allocated_growth_bytes"] = \
                int(torch.cuda.max_memory_allocated(cuda_index)) - cuda_base[0]
            image_fields["cuda_peak_reserved_growth_bytes"] = \
                int(torch.cuda.max_memory_reserved(cuda_index)) - cuda_base[1]
            # As malloc_trim on the CPU: the vision pass's transient blocks go back to the
            # device, so NVML (the guard's reading, the engine's used bytes) shows what is live.
            gc.collect()
            torch.cuda.empty_cache()
        n = len(new_ids)
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.stop_generation.is_set():
            stopped = "stop"
        elif guard_stop.figures is not None:
            stopped = "guard"
            self.log("warning", guard_stop.figures["why"], reply_to)
        elif new_ids and new_ids[-1] in eos_ids:
            stopped = "eos"
        else:
            stopped = "length"
        ttft = streamer.t_first - t0 if streamer.t_first is not None else None
        decode_tps = None
        if streamer.t_first is not None and streamer.t_last is not None and n > 1 \
                and streamer.t_last > streamer.t_first:
            decode_tps = (n - 1) / (streamer.t_last - streamer.t_first)
        per_token = loaded.info["kv_bytes_per_token"]
        self._job_finishing()
        self.emit("generated", reply_to, tokens=n, prompt_tokens=prompt_tokens, ttft_s=ttft,
                  total_s=total_s, tokens_per_s=n / total_s if total_s > 0 else None,
                  decode_tokens_per_s=decode_tps, kv_cache_bytes=kv_measured,
                  kv_cache_bytes_estimate=per_token * (prompt_tokens + n) if per_token else None,
                  stopped=stopped, text=tok.decode(new_ids, skip_special_tokens=True),
                  output_ids=new_ids, chat_template=use_chat, memory=self.figures(),
                  guard=guard_stop.figures, image_tokens=image_fields.get("image_tokens", 0),
                  **{k: v for k, v in image_fields.items() if k != "image_tokens"})

    # ---- image prompts (issue 16; the logic lives in console/worker/images.py)
    def _image_inputs(self, loaded: Loaded, prompt: str, paths: list[str], reply_to: int
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The processor's inputs for `prompt` after `paths`, and the `generated` event's image
        fields (tokens, sizes, grids, which processor)."""
        from console.worker import images

        if not all(isinstance(p, str) for p in paths):
            raise BadCommand("generate: images must be a list of file paths")
        if loaded.info.get("model_class", "").endswith("ForCausalLM") or \
                getattr(loaded.model.config, "vision_config", None) is None:
            raise ImagesRefused(
                f"generate: {loaded.info['label']} is a text-only model "
                f"(model_type {loaded.info['model_type']}): it takes no images",
                "drop the images, or load a vision model (glm4v, e.g. demo-vl)")
        try:
            if self._processor is None or self._processor[0] is not loaded:
                processor, how = images.load_processor(
                    Path(loaded.info["path"]), trust_remote_code=loaded.info["trust_remote_code"])
                self._processor = (loaded, processor, how)
                self.log("info", f"image processor: {type(processor).__name__} ({how})", reply_to)
            prepared = images.build_inputs(self._processor[1], prompt, paths,
                                           how=self._processor[2])
        except images.ImageError as exc:
            raise BadImage(str(exc), exc.hint) from None
        fields = {"image_tokens": prepared.image_tokens,
                  "image_tokens_per_image": prepared.tokens_per_image,
                  "images": [{"path": i.path, "width": i.width, "height": i.height,
                              "file_bytes": i.file_bytes} for i in prepared.images],
                  "image_grid_thw": prepared.inputs["image_grid_thw"].tolist()
                  if "image_grid_thw" in prepared.inputs else None,
                  "image_processor": prepared.processor_path}
        return prepared.inputs, fields

    def _admit_image_prompt(self, loaded: Loaded, fields: dict[str, Any], prompt_tokens: int,
                            max_new_tokens: int) -> None:
        """The generation guard, before the prompt runs: the vision pass (console/core/vision.py
        at the processor's sizes) plus the KV of every prompt token, image tokens included."""
        from console.core import vision
        from console.worker import images

        device = str(loaded.model.device)
        kv_per_token = loaded.info.get("kv_bytes_per_token") or 0
        vision_bytes = 0
        limits = images.processor_limits(self._processor[1]) if self._processor else None
        try:
            geo = vision.vision_geometry(loaded.model.config.to_dict())
            if limits is not None:
                sizes = [(i["height"], i["width"]) for i in fields["images"]]
                dtype = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}.get(
                    loaded.info["dtype"], "BF16")
                est = vision.estimate(geo, limits, sizes, dtype=dtype,
                                      kv_bytes_per_token=kv_per_token,
                                      attn_implementation=str(getattr(
                                          loaded.model.config, "_attn_implementation", "sdpa")),
                                      on_cpu=device == "cpu")
                vision_bytes = est.bytes
                fields["vision_estimate"] = est.to_json_dict()
        except vision.VisionError:
            pass
        growth = vision_bytes + kv_per_token * (prompt_tokens + max_new_tokens)
        figures = self.guard.generation_check(device, growth)
        if figures is not None:
            why = figures["why"].replace("stopped by guard", "image prompt refused by guard")
            why = why.replace("KV cache growth", f"{fields['image_tokens']} image tokens' "
                              "vision pass and KV")
            raise WillNotFit(why, "send fewer or smaller images, or lower the processor's "
                             "max_pixels")

    # ---- fingerprint (parity checks)
    def _job_fingerprint(self, msg: protocol.Fingerprint) -> None:
        """sha256 of the loaded model's tensors (parameters and buffers, non-persistent ones
        included) and of its logits on `input_ids`: compared with a plain `from_pretrained`
        by the tests and gpu/check_guard.py (console/worker/parity.py)."""
        reply_to = msg.id
        try:
            from console.worker.parity import fingerprint

            if self.loaded is None:
                raise NotLoaded("fingerprint: no model is loaded", "load a model first")
            names = msg.get("tensors")
            ids = msg.get("input_ids")
            result = fingerprint(self.loaded.model, names=list(names) if names else None,
                                 input_ids=[int(i) for i in ids] if ids else None)
            self._job_finishing()
            self.emit("fingerprint", reply_to, **result)
        except BaseException as exc:
            tb_text = "" if isinstance(exc, EngineError) else traceback.format_exc()
            self._job_finishing()
            self._error(reply_to, "fingerprint", _strip(exc), tb_text)

    # ---- behaviour (the migration check's probe set)
    def _job_behaviour(self, msg: protocol.Behaviour) -> None:
        reply_to = msg.id
        try:
            from console.core.probes import PROBE_SET, probes_for
            from console.worker.behaviour import record, runtime_env

            loaded = self.loaded
            if loaded is None:
                raise NotLoaded("behaviour: no model is loaded", "load a model first")
            if loaded.tokenizer is None:
                raise NotLoaded("behaviour: the model has no tokenizer",
                                "add the tokenizer files to the model directory")
            probes = [p for p in probes_for(msg.vision)
                      if not msg.probe_ids or p.id in msg.probe_ids]
            t0 = time.perf_counter()
            result = record(loaded.model, loaded.tokenizer, probes, msg.top_k, self.torch,
                            on_probe=lambda i, n, pid: self.log(
                                "info", f"probe {i + 1}/{n}: {pid}", reply_to))
            env = runtime_env(loaded.model, self.torch)
            self._job_finishing()
            self.emit("behaviour", reply_to, probe_set=PROBE_SET, probes=result["probes"],
                      noise=result["noise"], top_k=msg.top_k, env=env,
                      seconds=time.perf_counter() - t0)
        except BaseException as exc:
            tb_text = "" if isinstance(exc, EngineError) else traceback.format_exc()
            self._job_finishing()
            self._error(reply_to, "behaviour", _strip(exc), tb_text)
