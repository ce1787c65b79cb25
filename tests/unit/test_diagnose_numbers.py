"""CUDA out-of-memory messages across torch versions, and the specific cause their numbers say."""

from __future__ import annotations

from console.core.diagnose import diagnose_text, judge_oom, parse_cuda_oom
from console.core.diagnose.numbers import parse_size
from console.core.sample import GpuProcessSample, GpuSample
from console.core.units import GIB, MIB

# torch >= 2.2 (c10/cuda/CUDACachingAllocator.cpp), with an allowed fraction and CUDA graphs.
OOM_22 = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 1 has a total "
    "capacity of 79.19 GiB of which 1.50 GiB is free. Process 4242 has 30.00 GiB memory in use. "
    "Including non-PyTorch memory, this process has 47.60 GiB memory in use. 60.00 GiB allowed; "
    "Of the allocated memory 40.00 GiB is allocated by PyTorch, with 1.00 GiB allocated in private "
    "pools (e.g., CUDA Graphs), and 6.50 GiB is reserved by PyTorch but unallocated. If reserved "
    "but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True "
    "to avoid fragmentation.  See documentation for Memory Management  "
    "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)
# torch 2.1: "capacty", other processes only.
OOM_21 = (
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.50 GiB. GPU 0 has a "
    "total capacty of 23.64 GiB of which 1.42 GiB is free. Process 2722 has 22.22 GiB memory in "
    "use. Of the allocated memory 21.80 GiB is allocated by PyTorch, and 120.00 MiB is reserved by "
    "PyTorch but unallocated."
)
# torch <= 2.0.
OOM_113 = (
    "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.93 GiB total "
    "capacity; 6.89 GiB already allocated; 7.56 MiB free; 7.08 GiB reserved in total by PyTorch) "
    "If reserved memory is >> allocated memory try setting max_split_size_mb to avoid "
    "fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF"
)
# torch 1.4: "cached".
OOM_14 = (
    "RuntimeError: CUDA out of memory. Tried to allocate 1024 bytes (GPU 0; 11.17 GiB total "
    "capacity; 10.47 GiB already allocated; 3.81 MiB free; 10.65 GiB cached)"
)


def test_parse_size_units() -> None:
    assert parse_size("2.00", "MiB") == 2 * MIB
    assert parse_size("1024", "bytes") == 1024
    assert parse_size("256.", "TiB") == 256 * 1024 * GIB
    assert parse_size("1.5", "GB") == 1_500_000_000


def test_parse_torch_22_format() -> None:
    n = parse_cuda_oom(OOM_22)
    assert n is not None
    assert n.gpu_index == 1
    assert n.requested_bytes == 2 * GIB
    assert n.total_bytes == parse_size("79.19", "GiB")
    assert n.free_bytes == parse_size("1.50", "GiB")
    assert n.this_process_bytes == parse_size("47.60", "GiB")
    assert n.allowed_bytes == 60 * GIB
    assert n.allocated_bytes == 40 * GIB
    assert n.private_pool_bytes == 1 * GIB
    assert n.reserved_unallocated_bytes == parse_size("6.50", "GiB")
    assert n.other_processes == ((4242, 30 * GIB),)


def test_parse_torch_21_format() -> None:
    n = parse_cuda_oom(OOM_21)
    assert n is not None
    assert (n.gpu_index, n.requested_bytes) == (0, parse_size("3.50", "GiB"))
    assert n.total_bytes == parse_size("23.64", "GiB")
    assert n.other_processes == ((2722, parse_size("22.22", "GiB")),)
    assert n.this_process_bytes is None
    assert n.reserved_unallocated_bytes == 120 * MIB


def test_parse_old_formats_derive_unallocated() -> None:
    n = parse_cuda_oom(OOM_113)
    assert n is not None
    assert n.requested_bytes == 20 * MIB
    assert n.allocated_bytes == parse_size("6.89", "GiB")
    assert n.free_bytes == parse_size("7.56", "MiB")
    # reserved in total - allocated
    assert n.reserved_unallocated_bytes == parse_size("7.08", "GiB") - parse_size("6.89", "GiB")
    old = parse_cuda_oom(OOM_14)
    assert old is not None and old.requested_bytes == 1024
    assert old.reserved_unallocated_bytes == parse_size("10.65", "GiB") - parse_size("10.47", "GiB")


def test_message_split_over_lines_and_blank_gpu_index() -> None:
    text = ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 224.00 MiB. GPU  "
            "has a total\ncapacity of 44.34 GiB of which 160.81 MiB is free.")
    n = parse_cuda_oom(text)
    assert n is not None and n.gpu_index is None and n.total_bytes == parse_size("44.34", "GiB")


def test_no_numbers() -> None:
    assert parse_cuda_oom("RuntimeError: CUDA error: out of memory") is None
    assert parse_cuda_oom("nothing here") is None


def test_fragmentation_verdict() -> None:
    verdict = judge_oom(parse_cuda_oom(OOM_22.replace("Process 4242 has 30.00 GiB memory in use. ",
                                                      "")))
    assert verdict.kind == "fragmentation"
    assert any("expandable_segments:True" in fix for fix in verdict.fixes)


def test_other_process_named_from_nvml() -> None:
    gpus = (GpuSample(
        index=0, name="H100", uuid=None, memory_total_bytes=80 * GIB, memory_used_bytes=79 * GIB,
        memory_reserved_bytes=None, utilization_gpu_pct=None, utilization_memory_pct=None,
        temperature_c=None, power_draw_w=None, power_limit_w=None, sm_clock_mhz=None,
        processes=(GpuProcessSample(0, 2722, "alice", "vllm serve", 22 * GIB, "compute"),),
    ),)
    verdict = judge_oom(parse_cuda_oom(OOM_21), gpus=gpus)
    assert verdict.kind == "other_process"
    assert "vllm serve (pid 2722, user alice)" in verdict.explanation
    assert "22.2 GiB" in verdict.title


def test_kv_cache_verdict_with_the_numbers() -> None:
    n = parse_cuda_oom(OOM_113)
    verdict = judge_oom(n, phase="generate", kv_bytes_per_token=40 * 1024, context_tokens=25480)
    assert verdict.kind == "kv_cache"
    assert "25480 tokens" in verdict.explanation and "995.3 MiB" in verdict.explanation  # 0.97 GiB


def test_weights_do_not_fit_with_the_estimate() -> None:
    n = parse_cuda_oom(OOM_113)
    verdict = judge_oom(n, weights_bytes=int(20.6 * GIB))
    assert verdict.kind == "weights"
    assert "20.6 GiB" in verdict.explanation and "7.9 GiB" in verdict.explanation


def test_generic_when_nothing_stands_out() -> None:
    assert judge_oom(parse_cuda_oom(OOM_113)).kind == "generic"
    assert judge_oom(None).kind == "generic"


def test_diagnosis_uses_the_verdict_and_the_frames() -> None:
    """An OOM inside generate() with no other signal is read as the KV cache growing."""
    text = '''Traceback (most recent call last):
  File "/srv/chat.py", line 20, in reply
    out = model.generate(**inputs, max_new_tokens=4096)
  File "/venv/lib/python3.11/site-packages/transformers/generation/utils.py", line 2465, in generate
    result = self._sample(
''' + OOM_113
    cause = diagnose_text(text)[0]
    assert cause.id == "cuda_oom" and "KV cache" in cause.title
    facts = dict(cause.facts)
    assert facts["requested"] == "20.0 MiB" and facts["GPU total"] == "7.9 GiB"
