"""`edge doctor`: CPU, memory, GPU, models, audio devices and the problems it reports."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from edge import doctor, hardware
from edge.doctor import AudioDevice, AudioInfo, GpuInfo, MemoryInfo, ModelFit, Problem, Report
from edge.hardware import RuntimeSupport

X86_AVX512 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: ignored second core
"""
X86_OLD = "model name\t: Intel(R) Celeron(R) CPU N2840\nflags\t\t: fpu sse sse2 ssse3 sse4_2\n"
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd08
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""
PI5 = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n"
ARMV7 = "model name\t: ARMv7 Processor rev 4 (v7l)\nFeatures\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt\n"


def test_x86_instruction_sets() -> None:
    cpu = doctor.cpu_info(X86_AVX512, "x86_64", "")
    assert cpu.model.startswith("Intel(R) Xeon(R) Gold 6230")
    assert cpu.instruction_sets == ("AVX", "AVX2", "AVX-512", "FMA")
    assert doctor.cpu_info(X86_OLD, "x86_64", "").instruction_sets == ()


def test_arm_boards() -> None:
    pi4 = doctor.cpu_info(PI4, "aarch64", "Raspberry Pi 4 Model B Rev 1.4")
    assert pi4.model == "Raspberry Pi 4 Model B Rev 1.4 (Cortex-A72)"
    assert pi4.instruction_sets == ("FMA", "NEON")
    pi5 = doctor.cpu_info(PI5, "aarch64", "Raspberry Pi 5 Model B Rev 1.0")
    assert pi5.model == "Cortex-A76" and pi5.instruction_sets == ("FMA", "NEON", "DOTPROD")
    assert doctor.cpu_info(ARMV7, "armv7l", "").instruction_sets == ("FMA", "NEON")


def test_this_machine_is_described() -> None:
    cpu = doctor.cpu_info()
    assert cpu.cores == hardware.usable_cores() and cpu.model


def test_memory_and_device_class() -> None:
    info = doctor.memory_info("MemTotal:  927828 kB\nMemFree: 1 kB\nMemAvailable:  512000 kB\n")
    assert (round(info.total_mb), info.available_mb, info.device_class_mb) == (906, 500.0, 1024.0)
    assert doctor.memory_info("MemTotal: 3888000 kB\n").device_class_mb == 4096.0
    assert doctor.memory_info("MemTotal: 24683520 kB\n").device_class_mb == 24105.0
    assert doctor.memory_info("").total_mb is None


def report(**changes: object) -> Report:
    base = Report(
        cpu=doctor.cpu_info(X86_AVX512, "x86_64", ""),
        memory=MemoryInfo(4096.0, 3000.0),
        gpu=GpuInfo(False, "", ()),
        threads=hardware.default_threads(4),
        models_dir="/nonexistent/models",
        models=[ModelFit("moonshine-tiny-en", ("asr-segment",), 135.0, True, True)],
        audio=AudioInfo("pyaudio", (AudioDevice(0, "USB mic", 1, 0, 48000),)),
        profile="standard",
        profile_lines=[],
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def problems(r: Report) -> list[str]:
    return [p.problem for p in doctor.find_problems(r)]


def test_a_good_device_has_no_problems() -> None:
    assert problems(report()) == []


def test_each_problem_comes_with_its_fix() -> None:
    cuda_less = RuntimeSupport("ctranslate2", "4", False, "CPU-only build", "build with CUDA")
    bad = report(
        cpu=doctor.cpu_info(X86_OLD, "x86_64", ""),
        memory=MemoryInfo(512.0, 150.0),
        gpu=GpuInfo(False, "R36 (release), REVISION: 4.3", (cuda_less,)),
        models=[ModelFit("nllb-200-distilled-1.3b-ct2-int8", ("mt",), 1900.0, False, False)],
        audio=AudioInfo("", note="PyAudio is not installed"),
    )
    found = doctor.find_problems(bad)
    text = "\n".join(p.problem for p in found)
    for expected in (
        "no AVX2",
        "only 150 MB of memory",
        "do not fit in available memory: nllb-200-distilled-1.3b-ct2-int8",
        "NVIDIA GPU is present but ctranslate2 cannot use it",
        "PyAudio is not installed",
    ):
        assert expected in text
    assert all(p.fix for p in found)
    assert any(p.fix == "build with CUDA" for p in found)


def test_missing_models_and_microphone() -> None:
    found = problems(report(models=[], audio=AudioInfo("pyaudio", ())))
    assert any("no models are installed" in p for p in found)
    assert any("no audio devices" in p for p in found)
    speaker_only = AudioInfo("pyaudio", (AudioDevice(0, "HDMI", 0, 2, 48000),))
    assert any("no audio input" in p for p in problems(report(audio=speaker_only)))


def test_arm_without_neon() -> None:
    cpu = doctor.cpu_info("Features\t: half thumb vfp\n", "armv6l", "")
    assert any("no NEON" in p for p in problems(report(cpu=cpu)))


def test_audio_devices_through_pyaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [
        {
            "name": "USB mic",
            "maxInputChannels": 1,
            "maxOutputChannels": 0,
            "defaultSampleRate": 48000.0,
        },
        {
            "name": "Headphones",
            "maxInputChannels": 0,
            "maxOutputChannels": 2,
            "defaultSampleRate": 44100.0,
        },
    ]
    terminated: list[bool] = []

    class FakePyAudio:
        def get_device_count(self) -> int:
            return len(devices)

        def get_device_info_by_index(self, index: int) -> dict:
            return devices[index]

        def terminate(self) -> None:
            terminated.append(True)

    monkeypatch.setitem(sys.modules, "pyaudio", types.SimpleNamespace(PyAudio=FakePyAudio))
    info = doctor.audio_info()
    assert info.backend == "pyaudio" and terminated == [True]
    assert info.devices == (
        AudioDevice(0, "USB mic", 1, 0, 48000),
        AudioDevice(1, "Headphones", 0, 2, 44100),
    )


def test_no_pyaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # import raises ImportError
    info = doctor.audio_info()
    assert info.backend == "" and "not installed" in info.note


def test_board_profiles_only_on_their_board(tmp_path: Path) -> None:
    from edge.models import ModelStore

    store = ModelStore(tmp_path)
    assert "jetson" in store.catalog.profiles
    big = MemoryInfo(16384.0, 15000.0)
    desktop = doctor.cpu_info(X86_AVX512, "x86_64", "")
    no_gpu = GpuInfo(False, "", ())
    found: list[Problem] = []
    profile, _ = doctor._recommend(store, big, desktop, no_gpu, "eng_Latn", "eng_Latn", found)
    assert profile != "jetson" and not found
    jetson = GpuInfo(False, "R36 (release), REVISION: 4.3", ())
    profile, lines = doctor._recommend(store, big, desktop, jetson, "eng_Latn", "eng_Latn", found)
    assert profile == "jetson" and lines


def test_render_lists_everything() -> None:
    r = report()
    r.problems = [Problem("something is wrong", "do this")]
    text = doctor.render(r)
    for part in ("Intel(R) Xeon(R)", "AVX-512", "4096 MB total", "moonshine-tiny-en", "USB mic"):
        assert part in text
    assert "fix: do this" in text and "low-memory mode off" in text
    r.low_memory = True
    assert "low-memory mode on" in doctor.render(r)


def test_cli_json(models_dir: Path, moonshine_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "doctor", "--json", "--models-dir", str(models_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"cpu", "memory", "gpu", "models", "audio", "problems"}
    assert data["cpu"]["cores"] >= 1 and data["memory"]["total_mb"] > 0
    assert data["memory"]["low_memory_mode"] == hardware.low_memory_default()
    assert {r["runtime"] for r in data["gpu"]["runtimes"]} == {
        "ctranslate2",
        "sherpa-onnx",
        "onnxruntime",
    }
    installed = {m["id"]: m for m in data["models"]["installed"]}
    assert installed["moonshine-tiny-en"]["fits"] is True
    assert data["recommended_profile"]
    assert all(p["fix"] for p in data["problems"])


def test_cli_text(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "doctor", "--models-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no models are installed" in proc.stdout and "fix: edge models pull demo" in proc.stdout
