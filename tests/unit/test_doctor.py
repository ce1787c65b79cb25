"""The doctor: the real report on this machine, and its predictions table-tested.

The machine-level tests run the real probe subprocess and real NVML. The predictions feed
`evaluate` with NVML answers and probe outputs recorded on the H100 host
(tests/fixtures/doctor/, tests/fixtures/nvml/doctor_h100_real.json, from
gpu/check_doctor.py), changed field by field for each case.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from console.core.allocconf import split_alloc_conf
from console.core.doctor_judge import (
    DoctorInputs,
    HfCacheFacts,
    HostFacts,
    NvmlFacts,
    NvmlGpu,
    ProbeRun,
    Report,
    cudnn_version_text,
    driver_runtime_compat,
    evaluate,
    format_report,
    kernel_support,
    resolve_visible_devices,
)
from console.core.sample import NvmlStatus
from console.host import doctor
from console.host.doctor import read_nvml, run_probe
from console.host.nvml import RecordedNvml
from tests.paths import FIXTURES
from tests.paths import REPO as ROOT

H100_NVML = FIXTURES / "nvml" / "doctor_h100_real.json"


def probe_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "doctor" / name).read_text())
    return data


def _has_nvidia_driver() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


CPU_ONLY = not _has_nvidia_driver()


# --------------------------------------------------------------------------- this machine


@pytest.fixture(scope="module")
def cli_report() -> dict[str, Any]:
    """`autoglm-console doctor --json` in a fresh process that must never import torch."""
    code = (
        "import json, sys\nfrom console.cli import main\nrc = main(['doctor', '--json'])\nleaked = "
        "[m for m in ('torch', 'transformers', 'textual') if m in "
        "sys.modules]\nprint(json.dumps({'rc': rc, 'leaked': leaked}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "PYTORCH_"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=180, env=env, cwd=ROOT, check=False)
    lines = proc.stdout.strip().splitlines()
    tail = json.loads(lines[-1])
    report = json.loads("\n".join(lines[:-1]))
    return {"rc": tail["rc"], "leaked": tail["leaked"], "report": report, "stderr": proc.stderr}


@pytest.mark.skipif(not CPU_ONLY, reason="a GPU host: gpu/check_doctor.py checks the report there")
def test_cpu_machine_report_says_so_plainly(cli_report: dict[str, Any]) -> None:
    assert cli_report["leaked"] == [], "the app side imported torch/transformers/textual"
    report = cli_report["report"]
    assert report["schema_version"] == 1
    checks = {c["id"]: c for c in report["checks"]}
    for c in report["checks"]:
        assert set(c) >= {"id", "status", "title", "facts", "fix"}
        assert c["status"] in ("pass", "warn", "fail")
        assert "\n" not in c["fix"]

    driver = checks["nvidia_driver"]
    assert driver["status"] == "warn"
    assert "no NVIDIA driver" in driver["detail"]
    assert driver["facts"]["nvml_state"] == "no_driver"

    torch_version = importlib.metadata.version("torch")
    torch_check = checks["torch"]
    assert torch_check["facts"]["version"] == torch_version
    assert torch_check["facts"]["cuda"] is None
    assert torch_check["status"] == "warn"
    assert f"torch {torch_version} is a CPU-only build" in torch_check["detail"]

    for cid in ("cudnn", "bf16"):
        assert checks[cid]["status"] == "pass"
        assert "not applicable: no GPU" in checks[cid]["detail"]
        assert checks[cid]["facts"]["applicable"] is False
    assert checks["arch"]["detail"] == "not applicable: torch is not a CUDA build"
    installed = importlib.metadata.version("transformers")
    assert checks["pkg_transformers"]["facts"]["version"] == installed
    assert checks["python"]["facts"]["version"] == ".".join(map(str, sys.version_info[:3]))

    summary = report["summary"]
    assert summary["fail"] == sum(c["status"] == "fail" for c in report["checks"])
    assert summary["fail"] == 0
    assert cli_report["rc"] == 0


@pytest.mark.skipif(not CPU_ONLY, reason="a GPU host: gpu/check_doctor.py checks the report there")
def test_readable_report_one_line_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    report = evaluate(cpu_inputs())
    text = format_report(report)
    status_lines = [ln for ln in text.splitlines() if ln[:4] in ("PASS", "WARN", "FAIL")]
    assert len(status_lines) == len(report.checks)
    assert any(ln.startswith("WARN  PyTorch") and "CPU-only build" in ln for ln in status_lines)
    assert "fix: install a CUDA build" not in text  # no GPU: nothing to install


def cpu_inputs(**changes: Any) -> DoctorInputs:
    """This machine's facts, probe included (real subprocess), for the readable-report test."""
    base = doctor.gather(env={k: v for k, v in os.environ.items() if not k.startswith("CUDA_")})
    return dataclasses.replace(base, **changes)


def test_probe_without_torch_says_so(tmp_path: Path) -> None:
    """A real interpreter without torch: a venv made from the base Python, no packages."""
    env_dir = tmp_path / "no-torch"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    run = run_probe(python=python, timeout_s=60)
    assert run.ok, run.error
    assert run.data is not None
    assert run.data["torch"] is None
    assert "No module named 'torch'" in run.data["torch_import_error"]
    assert run.data["python"]["executable"] == python

    inputs = dataclasses.replace(synthetic(), probe=run)
    check = evaluate(inputs).get("torch")
    assert check.status == "fail"
    assert f"torch is not installed for {python}" in check.detail
    assert "the engine cannot load a model" in check.detail
    # Every torch-side check says why it does not apply instead of guessing.
    report = evaluate(inputs)
    for cid in ("cuda_compat", "arch", "cudnn"):
        assert report.get(cid).detail == "not applicable: torch is not installed"


def test_probe_runner_failures_are_results_not_crashes(tmp_path: Path) -> None:
    missing = run_probe(python=str(tmp_path / "nope" / "python"))
    assert not missing.ok and "was not found" in (missing.error or "")
    slow = run_probe(timeout_s=0.05)
    assert not slow.ok and "did not finish in 0 s" in (slow.error or "")
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    broken.chmod(0o755)
    crashed = run_probe(python=str(broken))
    assert not crashed.ok
    assert crashed.error == "the torch probe exited 139 without a result: Segmentation fault"
    check = evaluate(dataclasses.replace(synthetic(), probe=crashed)).get("torch")
    assert check.status == "fail" and "Segmentation fault" in check.detail


def test_probe_alloc_conf_on_this_torch() -> None:
    """The real probe sets the allocator settings aside before torch loads and hands them to
    torch's parser only on a CUDA build."""
    env = dict(os.environ, PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True,bogus:1")
    run = run_probe(env=env, timeout_s=120)
    assert run.ok, run.error
    conf = run.data["alloc_conf"]  # type: ignore[index]
    assert conf["variable"] == "PYTORCH_CUDA_ALLOC_CONF"
    assert conf["value"] == "expandable_segments:True,bogus:1"
    cuda_build = run.data["torch"] and run.data["torch"]["cuda"]  # type: ignore[index]
    assert conf["checked_by_torch"] is bool(cuda_build)


def test_nvml_without_driver_is_a_status() -> None:
    facts = read_nvml()
    if CPU_ONLY:
        assert facts.status.state == "no_driver"
        assert facts.gpus == ()


# --------------------------------------------------------------------------- recorded H100


def h100_nvml() -> NvmlFacts:
    return read_nvml(RecordedNvml(H100_NVML))


def test_recorded_h100_nvml_answers() -> None:
    nvml = RecordedNvml(H100_NVML)
    facts = read_nvml(nvml)
    assert nvml.unrecorded == []
    assert facts.status.state == "ok"
    assert facts.status.driver_version == "580.159.04"
    assert facts.status.cuda_driver_version == "13.0"
    assert len(facts.gpus) == 1
    gpu = facts.gpus[0]
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.compute_capability == (9, 0)
    assert gpu.uuid and gpu.uuid.startswith("GPU-")
    assert gpu.memory_total_bytes and gpu.memory_total_bytes > 79 * 1024**3


PACKAGES = {
    "transformers": "5.17.0", "accelerate": "1.15.0", "safetensors": "0.8.0",
    "tokenizers": "0.23.2", "huggingface_hub": "1.33.0", "torch": "2.11.0",
    "sentencepiece": "0.2.2", "tiktoken": "0.14.0", "protobuf": None, "bitsandbytes": None,
    "flash_attn": None, "packaging": "25.0",
}
TRANSFORMERS_REQUIRES = (
    "huggingface-hub<2.0,>=1.5.0", "safetensors>=0.8.0", "tokenizers<0.24.0,>=0.23.1",
    'torch>=2.5; extra == "torch"', 'accelerate>=1.1.0; extra == "torch"',
    'accelerate>=1.1.0; extra == "accelerate"', 'torchvision; extra == "vision"',
)


def synthetic(
    *,
    probe: dict[str, Any] | None = None,
    nvml: NvmlFacts | None = None,
    env: dict[str, str] | None = None,
    packages: dict[str, str | None] | None = None,
    host: HostFacts | None = None,
    hf_cache: HfCacheFacts | None = None,
) -> DoctorInputs:
    """The H100 host as recorded, with the given parts replaced."""
    data = probe if probe is not None else probe_fixture("probe_h100.json")
    return DoctorInputs(
        python_version="3.12.3", python_executable="/usr/bin/python3",
        env=env or {},
        nvml=nvml or h100_nvml(),
        probe=ProbeRun("/usr/bin/python3", data, None, 3.0),
        packages={**PACKAGES, **(packages or {})},
        transformers_requires=TRANSFORMERS_REQUIRES,
        hf_cache=hf_cache or HfCacheFacts("/root/.cache/huggingface/hub", "default", True, True,
                                          500 * 1024**3, 1000 * 1024**3, 3, False),
        host=host or HostFacts(64 * 1024**3, 64 * 1024**3, 8 * 1024**3, 0, None, None),
    )


def with_torch(**changes: Any) -> dict[str, Any]:
    probe = copy.deepcopy(probe_fixture("probe_h100.json"))
    probe["torch"].update(changes)
    return probe


def statuses(report: Report) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def test_recorded_h100_is_healthy() -> None:
    report = evaluate(synthetic())
    st = statuses(report)
    assert [cid for cid, s in st.items() if s == "fail"] == []
    for cid in ("nvidia_driver", "torch", "cuda_compat", "arch", "cudnn", "bf16"):
        assert st[cid] == "pass", report.get(cid).detail
    torch_facts = probe_fixture("probe_h100.json")["torch"]
    assert report.get("torch").facts["cuda"] == torch_facts["cuda"]
    assert "driver 580.159.04, supports CUDA 13.0" in report.get("nvidia_driver").detail
    assert report.get("arch").facts["devices"][0]["capability"] == "9.0"
    assert report.get("arch").facts["devices"][0]["support"] == "native"
    assert report.get("cudnn").detail == f"cuDNN {cudnn_version_text(torch_facts['cudnn_version'])}"
    assert report.exit_code == 0


# Driver's CUDA, torch's CUDA, driver version -> expected status. Minor-version compatibility:
# within a major (11+) an older driver runs a newer runtime (warn); across majors it does not.
COMPAT_CASES = [
    ("13.0", "13.0", "580.159.04", "pass"),
    ("13.0", "12.8", "580.159.04", "pass"),
    ("12.8", "13.0", "570.86.10", "fail"),
    ("11.4", "11.8", "470.57.02", "warn"),
    ("11.4", "12.1", "470.57.02", "fail"),
    ("11.0", "11.8", "450.36.06", "fail"),  # below 450.80.02, the 11.x minor-compat minimum
    ("12.2", "12.4", "535.104.05", "warn"),
    ("10.1", "10.2", "418.39", "fail"),  # before CUDA 11: no minor-version compatibility
]


@pytest.mark.parametrize(("driver_cuda", "torch_cuda", "driver", "expected"), COMPAT_CASES)
def test_driver_vs_runtime(driver_cuda: str, torch_cuda: str, driver: str, expected: str) -> None:
    status, reason = driver_runtime_compat(driver_cuda, torch_cuda, driver)
    assert status == expected, reason
    nvml = NvmlFacts(NvmlStatus("ok", "", driver, None, driver_cuda), h100_nvml().gpus)
    check = evaluate(synthetic(probe=with_torch(cuda=torch_cuda), nvml=nvml)).get("cuda_compat")
    assert check.status == expected
    if expected == "fail":
        assert check.fix.startswith("update the NVIDIA driver")


def test_cu118_on_a_cuda_11_4_driver_says_what_breaks() -> None:
    nvml = NvmlFacts(NvmlStatus("ok", "", "470.57.02", None, "11.4"), h100_nvml().gpus)
    check = evaluate(synthetic(probe=with_torch(cuda="11.8"), nvml=nvml)).get("cuda_compat")
    assert check.status == "warn"
    assert "minor-version compatibility" in check.detail
    assert "PTX" in check.detail


H100 = (9, 0)
# (arch list, capability) -> (support, matching entries)
ARCH_CASES = [
    (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], H100, "native", ["sm_90"]),
    (["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86"], H100, "none", []),
    (["sm_80", "sm_86", "compute_86"], H100, "ptx", ["compute_86"]),
    (["sm_80", "compute_80"], H100, "ptx", ["compute_80"]),
    (["sm_90a"], H100, "native", ["sm_90a"]),
    (["sm_90a", "compute_90a"], (10, 0), "none", []),  # "a" code runs on exactly 9.0
    (["sm_80"], (8, 6), "native", ["sm_80"]),  # same major, newer minor
    (["sm_86"], (8, 0), "none", []),  # never downwards
    (["sm_89"], (8, 6), "none", []),
    (["sm_80", "sm_86"], (8, 7), "none", []),  # Orin (integrated) needs sm_87 itself
    (["sm_87"], (8, 7), "native", ["sm_87"]),
    (["sm_90", "compute_90"], (12, 0), "ptx", ["compute_90"]),  # Blackwell via PTX JIT
    (["sm_100f"], (10, 3), "native", ["sm_100f"]),
    (["sm_120", "compute_120"], H100, "none", []),  # PTX only runs upwards
    ([], H100, "none", []),
]


@pytest.mark.parametrize(("archs", "cc", "support", "entries"), ARCH_CASES)
def test_kernel_support(archs: list[str], cc: tuple[int, int], support: str,
                        entries: list[str]) -> None:
    assert kernel_support(archs, cc) == (support, entries)


def test_no_kernel_image_predicted_for_h100() -> None:
    probe = with_torch(arch_list=["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86"])
    check = evaluate(synthetic(probe=probe)).get("arch")
    assert check.status == "fail"
    assert "no kernel image is available" in check.detail
    assert "sm_90" in check.fix


def test_ptx_only_is_a_warning_unless_the_driver_is_older() -> None:
    probe = with_torch(arch_list=["sm_80", "sm_86", "compute_86"])
    check = evaluate(synthetic(probe=probe)).get("arch")
    assert check.status == "warn"
    assert "JIT-compiles" in check.detail
    # The same torch (CUDA 13.0) with a driver that supports 12.8 cannot JIT its PTX.
    nvml = NvmlFacts(NvmlStatus("ok", "", "570.86.10", None, "12.8"), h100_nvml().gpus)
    check = evaluate(synthetic(probe=probe, nvml=nvml)).get("arch")
    assert check.status == "fail"
    assert "cannot JIT-compile" in check.detail


def test_arch_predicted_from_nvml_when_torch_cannot_start() -> None:
    """A driver too old for torch: no devices from torch, the capability comes from NVML."""
    nvml = NvmlFacts(NvmlStatus("ok", "", "470.57.02", None, "11.4"), h100_nvml().gpus)
    probe = with_torch(cuda="12.1", cuda_available=False, device_count=0, devices=[],
                       arch_list=["sm_50", "sm_80", "sm_86"],
                       unavailable_message="RuntimeError: The NVIDIA driver on your system is too "
                                           "old (found version 11040).")
    report = evaluate(synthetic(probe=probe, nvml=nvml))
    assert report.get("torch").status == "fail"
    assert report.get("torch").facts["reason"] == "driver_too_old"
    assert report.get("cuda_compat").status == "fail"
    arch = report.get("arch")
    assert arch.status == "fail" and arch.facts["capability_source"] == "nvml"


def test_cpu_torch_on_a_gpu_box_fails() -> None:
    probe = with_torch(version="2.13.0+cpu", cuda=None, arch_list=[], cuda_available=False,
                       device_count=0, devices=[], cudnn_available=False, cudnn_version=None,
                       bf16_supported=None)
    report = evaluate(synthetic(probe=probe))
    check = report.get("torch")
    assert check.status == "fail"
    assert "CPU-only build, but this machine has 1 NVIDIA GPU" in check.detail
    assert "CUDA <= 13.0" in check.fix
    assert report.exit_code == 1


def test_bf16_and_flash_attn_on_a_t4() -> None:
    t4 = NvmlGpu(0, "Tesla T4", "GPU-1111", (7, 5), 16 * 1024**3)
    nvml = NvmlFacts(NvmlStatus("ok", "", "580.159.04", None, "13.0"), (t4,))
    device = {"index": 0, "name": "Tesla T4", "capability": [7, 5], "total_memory_bytes": 1,
              "uuid": "GPU-1111", "multi_processor_count": 40}
    probe = with_torch(devices=[device], bf16_supported=False)
    probe["flash_attn"].update(installed=True, version="2.8.3")
    report = evaluate(synthetic(probe=probe, nvml=nvml, packages={"flash_attn": "2.8.3"}))
    assert report.get("bf16").status == "warn"
    assert "no native bfloat16" in report.get("bf16").detail
    fa = report.get("flash_attn")
    assert fa.status == "warn" and "8.0+" in fa.detail and "sdpa" in fa.fix
    assert report.get("arch").status == "pass"  # sm_75 is in the cu130 list


def test_flash_attn_states_on_h100() -> None:
    probe = copy.deepcopy(probe_fixture("probe_h100.json"))
    probe["flash_attn"].update(installed=True, version="2.8.3")
    ok = evaluate(synthetic(probe=probe, packages={"flash_attn": "2.8.3"})).get("flash_attn")
    assert ok.status == "pass" and "suits every GPU" in ok.detail
    probe["flash_attn"]["import_error"] = (
        "ImportError: flash_attn_2_cuda.so: undefined symbol: _ZN3c10")
    broken = evaluate(synthetic(probe=probe, packages={"flash_attn": "2.8.3"})).get("flash_attn")
    assert broken.status == "warn" and "undefined symbol" in broken.detail
    absent = evaluate(synthetic()).get("flash_attn")
    assert absent.status == "pass" and "not installed" in absent.detail


# CUDA_VISIBLE_DEVICES on the recorded 1-GPU H100 -> (status, visible NVML indices)
def _h100_uuid() -> str:
    uuid = h100_nvml().gpus[0].uuid
    assert uuid
    return uuid


CVD_CASES = [
    (None, "pass", (0,)),
    ("0", "pass", (0,)),
    ("7", "fail", ()),
    ("5", "fail", ()),
    ("", "fail", ()),
    ("-1", "fail", ()),
    ("0,7", "warn", (0,)),
    ("7,0", "fail", ()),  # the first invalid entry ends the list
    ("0,0", "fail", ()),  # a repeated device empties it
    ("abc", "fail", ()),
    ("0gpu", "pass", (0,)),  # strtoul reads the leading digits
    ("GPU-deadbeef", "fail", ()),
]


@pytest.mark.parametrize(("value", "expected", "visible"), CVD_CASES)
def test_cuda_visible_devices(value: str | None, expected: str, visible: tuple[int, ...]) -> None:
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    check = evaluate(synthetic(env=env)).get("cuda_visible_devices")
    assert check.status == expected, check.detail
    assert tuple(check.facts["visible_nvml_indices"]) == visible


def test_cuda_visible_devices_by_uuid_prefix() -> None:
    uuid = _h100_uuid()
    check = evaluate(synthetic(env={"CUDA_VISIBLE_DEVICES": uuid[:12]})).get("cuda_visible_devices")
    assert check.status == "pass" and check.facts["visible_nvml_indices"] == [0]


def test_cuda_visible_devices_7_on_a_one_gpu_box() -> None:
    report = evaluate(synthetic(env={"CUDA_VISIBLE_DEVICES": "7"},
                                probe=probe_fixture("probe_h100_cvd5.json")))
    check = report.get("cuda_visible_devices")
    assert check.status == "fail"
    assert "there is no GPU 7 (NVML sees 1: 0)" in check.detail
    assert "0..0" in check.fix
    torch_check = report.get("torch")
    assert torch_check.status == "fail" and torch_check.facts["reason"] == "hidden"
    assert report.exit_code == 1


def test_visible_devices_without_nvml_are_not_guessed() -> None:
    vis = resolve_visible_devices("3", None)
    assert vis.visible is None and vis.problems == ()
    assert resolve_visible_devices("", None).hides_all


def test_alloc_conf_split() -> None:
    assert split_alloc_conf("expandable_segments:True, roundup_power2_divisions:[64:8,>:1],x") == [
        ("expandable_segments", "True"), ("roundup_power2_divisions", "[64:8,>:1]"), ("x", ""),
    ]


ALLOC_CASES = [
    ("expandable_segments:True", "pass", ""),
    ("max_split_size_mb:128,garbage_collection_threshold:0.6", "pass", "expandable_segments:True"),
    ("expandable_segments:true", "warn", "must be True or False"),
    ("expandable_segment:True", "warn", "did you mean expandable_segments"),
    ("max_split_size_mb:10", "warn", ">= 20"),
    ("garbage_collection_threshold:1.5", "warn", "must be in"),
    ("roundup_power2_divisions:3", "warn", "power of 2"),
    ("roundup_power2_divisions:[256:4,>:1],backend:cudaMallocAsync", "pass", ""),
    ("backend:cudaMalloc", "warn", "native or cudaMallocAsync"),
]


@pytest.mark.parametrize(("value", "expected", "text"), ALLOC_CASES)
def test_alloc_conf_static(value: str, expected: str, text: str) -> None:
    probe = copy.deepcopy(probe_fixture("probe_h100.json"))
    probe["alloc_conf"] = {"variable": None, "value": None, "checked_by_torch": False,
                           "error": None}
    check = evaluate(synthetic(env={"PYTORCH_CUDA_ALLOC_CONF": value},
                               probe=probe)).get("alloc_conf")
    assert check.status == expected, check.detail
    assert text in (check.detail + check.fix)


def test_alloc_conf_absent_suggests_expandable_segments() -> None:
    check = evaluate(synthetic()).get("alloc_conf")
    assert check.status == "pass"
    assert "expandable_segments:True" in check.fix


def test_alloc_conf_rejected_by_the_real_torch_fails() -> None:
    """The H100 probe ran with a bad key: torch's own parser refused it."""
    probe = probe_fixture("probe_h100_alloc_bad.json")
    assert probe["alloc_conf"]["checked_by_torch"] is True and probe["alloc_conf"]["error"]
    env = {"PYTORCH_CUDA_ALLOC_CONF": probe["alloc_conf"]["value"]}
    check = evaluate(synthetic(env=env, probe=probe)).get("alloc_conf")
    assert check.status == "fail"
    assert "rejected by the installed torch" in check.detail


def test_alloc_conf_unknown_key_accepted_by_torch_passes() -> None:
    probe = copy.deepcopy(probe_fixture("probe_h100.json"))
    probe["alloc_conf"] = {"variable": "PYTORCH_CUDA_ALLOC_CONF", "value": "future_key:1",
                           "checked_by_torch": True, "error": None}
    check = evaluate(synthetic(env={"PYTORCH_CUDA_ALLOC_CONF": "future_key:1"},
                               probe=probe)).get("alloc_conf")
    assert check.status == "pass" and "accepted by the installed torch" in check.detail


PACKAGE_CASES = [
    ({"tokenizers": "0.22.1"}, "pkg_tokenizers", "fail"),
    ({"huggingface_hub": "2.0.0"}, "pkg_huggingface_hub", "fail"),
    ({"safetensors": None}, "pkg_safetensors", "fail"),
    ({"accelerate": None}, "pkg_accelerate", "warn"),
    ({"transformers": "4.50.0"}, "pkg_transformers", "fail"),
    ({"transformers": "4.57.1"}, "pkg_transformers", "warn"),
    ({"transformers": None}, "pkg_transformers", "fail"),
    ({"tokenizers": "0.23.3"}, "pkg_tokenizers", "pass"),
]


@pytest.mark.parametrize(("packages", "cid", "expected"), PACKAGE_CASES)
def test_packages(packages: dict[str, str | None], cid: str, expected: str) -> None:
    check = evaluate(synthetic(packages=packages)).get(cid)
    assert check.status == expected, check.detail


def test_driver_states() -> None:
    mismatch = NvmlFacts(NvmlStatus("version_mismatch", "NVMLError_LibRmVersionMismatch"))
    assert evaluate(synthetic(nvml=mismatch)).get("nvidia_driver").status == "fail"
    no_gpu = NvmlFacts(NvmlStatus("ok", "", "580.159.04", None, "13.0"), ())
    assert evaluate(synthetic(nvml=no_gpu)).get("nvidia_driver").status == "warn"


def test_host_checks() -> None:
    small_shm = HostFacts(64 * 1024**2, 64 * 1024**2, 0, 0, 64 * 1024, 64 * 1024)
    report = evaluate(synthetic(host=small_shm))
    assert report.get("dev_shm").status == "warn" and "--shm-size" in report.get("dev_shm").fix
    assert report.get("swap").status == "pass" and "none configured" in report.get("swap").detail
    assert report.get("memlock").facts["soft_bytes"] == 64 * 1024
    pressed = HostFacts(None, None, 8 * 1024**3, 6 * 1024**3, None, None)
    report = evaluate(synthetic(host=pressed))
    assert report.get("dev_shm").status == "warn"
    assert report.get("swap").status == "warn"
    assert report.get("memlock").detail.startswith("ulimit -l unlimited")
    full = HfCacheFacts("/x/hub", "HF_HUB_CACHE", True, True, 512 * 1024**2, 10 * 1024**3, 1, True)
    assert evaluate(synthetic(hf_cache=full)).get("hf_cache").status == "fail"
    ro = HfCacheFacts("/x/hub", "HF_HOME", True, False, 100 * 1024**3, 200 * 1024**3, 1, True)
    assert evaluate(synthetic(hf_cache=ro)).get("hf_cache").status == "warn"


def test_hf_cache_location_order(tmp_path: Path) -> None:
    assert doctor.resolve_hf_cache({"HF_HOME": str(tmp_path)}) == (str(tmp_path / "hub"), "HF_HOME")
    env = {"HF_HOME": "/a", "HF_HUB_CACHE": str(tmp_path / "c")}
    assert doctor.resolve_hf_cache(env) == (str(tmp_path / "c"), "HF_HUB_CACHE")
    assert doctor.resolve_hf_cache(env, configured="/cfg")[1] == "config models.hf_cache"
    facts = doctor.hf_cache_facts({"HF_HUB_CACHE": str(tmp_path / "not" / "yet")})
    assert not facts.exists and facts.writable and facts.free_bytes
    (tmp_path / "hub" / "models--org--m").mkdir(parents=True)
    assert doctor.hf_cache_facts({"HF_HOME": str(tmp_path)}).cached_models == 1


def test_cudnn_version_text() -> None:
    assert cudnn_version_text(91002) == "9.10.2"
    assert cudnn_version_text(8902) == "8.9.2"
    assert cudnn_version_text(None) is None


def test_report_json_and_exit_code() -> None:
    report = evaluate(synthetic(env={"CUDA_VISIBLE_DEVICES": "7"}))
    data = json.loads(json.dumps(report.to_json_dict()))
    assert data["schema_version"] == 1
    assert data["summary"]["fail"] >= 1 and data["summary"]["status"] == "fail"
    assert report.exit_code == 1
    assert evaluate(synthetic()).exit_code == 0


def test_cli_usage_error() -> None:
    from console.cli import main

    assert main(["doctor", "--timeout", "0"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--no-such-flag"])
    assert exc.value.code == 2


def test_empty_cuda_visible_devices_hides_every_gpu() -> None:
    report = evaluate(synthetic(env={"CUDA_VISIBLE_DEVICES": ""},
                                probe=probe_fixture("probe_h100_cvd_empty.json")))
    cvd = report.get("cuda_visible_devices")
    assert cvd.status == "fail" and "set but empty" in cvd.detail
    torch_check = report.get("torch")
    assert torch_check.status == "fail" and torch_check.facts["reason"] == "hidden"
    assert report.get("arch").detail.startswith("not applicable: no GPU visible to torch")


def test_read_nvml_follows_the_recording_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same environment switch as Telemetry(nvml=None), for demos and end-to-end tests."""
    from console.host.telemetry import RECORDING_ENV

    monkeypatch.setenv(RECORDING_ENV, str(H100_NVML))
    facts = read_nvml()
    assert facts.status.state == "ok" and facts.gpus[0].compute_capability == (9, 0)


def test_the_judge_is_pure_and_imports_no_host_side() -> None:
    """The judge (console.core.doctor_judge) loads without NVML, psutil or the host package."""
    code = (
        "import sys, console.core.doctor_judge\n"
        "print(sorted(m for m in ('pynvml', 'psutil', 'console.host', 'textual', 'torch')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
