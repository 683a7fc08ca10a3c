"""``edge doctor``: what this device has, what edge will do with it, and what to fix.

Everything here reads the system without loading a model, so it runs in about a second
even on a Raspberry Pi: /proc/cpuinfo and /proc/meminfo, the device tree (board name),
the runtimes' own CUDA queries (``edge.hardware``), the installed models and PyAudio.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hardware
from .errors import EdgeError
from .models.memory import HEADROOM_MB, RUNTIME_BASE_MB, estimated_ram_mb

# ARM "CPU part" numbers (implementer 0x41 ARM, 0x4e NVIDIA) of the cores edge devices use.
_ARM_PARTS = {
    ("0x41", "0xd03"): "Cortex-A53",
    ("0x41", "0xd04"): "Cortex-A35",
    ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57",
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0a"): "Cortex-A75",
    ("0x41", "0xd0b"): "Cortex-A76",
    ("0x41", "0xd0d"): "Cortex-A77",
    ("0x41", "0xd41"): "Cortex-A78",
    ("0x41", "0xd42"): "Cortex-A78AE",
    ("0x41", "0xd4b"): "Cortex-A78C",
    ("0x4e", "0x004"): "NVIDIA Carmel",
}
# Profiles that only make sense on one kind of board (the id in models/profiles.toml).
BOARD_PROFILES = {"jetson": "NVIDIA Jetson"}
MIN_FREE_DISK_MB = 500.0


@dataclass(frozen=True)
class Problem:
    problem: str
    fix: str


@dataclass(frozen=True)
class CpuInfo:
    model: str
    architecture: str
    cores: int  # usable by this process
    logical_cpus: int
    instruction_sets: tuple[str, ...]  # of AVX, AVX2, AVX-512, FMA, NEON, DOTPROD
    board: str = ""  # device-tree model: "Raspberry Pi 5 Model B", "NVIDIA Jetson ..."


def cpu_info(
    cpuinfo: str | None = None, architecture: str | None = None, board: str | None = None
) -> CpuInfo:
    """The CPU, from /proc/cpuinfo (arguments replace what is read, for tests)."""
    if cpuinfo is None:
        cpuinfo = _read("/proc/cpuinfo")
    architecture = architecture or platform.machine()
    board = _read("/proc/device-tree/model").rstrip("\x00").strip() if board is None else board
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:  # the first processor describes the rest
            fields[key.strip()] = value.strip()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    found = []
    if "avx" in flags:
        found.append("AVX")
    if "avx2" in flags:
        found.append("AVX2")
    if any(f.startswith("avx512") for f in flags):
        found.append("AVX-512")
    # AArch64 always has fused multiply-add with its FP unit; ARMv7 with VFPv4.
    if "fma" in flags or "vfpv4" in flags or (architecture == "aarch64" and "fp" in flags):
        found.append("FMA")
    if "neon" in flags or "asimd" in flags:
        found.append("NEON")
    if "asimddp" in flags:
        found.append("DOTPROD")
    model = fields.get("model name") or fields.get("Model") or ""
    part = _ARM_PARTS.get((fields.get("CPU implementer", ""), fields.get("CPU part", "")))
    if part and part not in model:
        model = f"{model} ({part})" if model else part
    return CpuInfo(
        model=model or platform.processor() or architecture,
        architecture=architecture,
        cores=hardware.usable_cores(),
        logical_cpus=os.cpu_count() or 1,
        instruction_sets=tuple(found),
        board=board,
    )


@dataclass(frozen=True)
class MemoryInfo:
    total_mb: float | None
    available_mb: float | None

    @property
    def device_class_mb(self) -> float | None:
        """The RAM size a device is sold with: MemTotal rounded up to a power of two when
        the kernel and firmware took less than a quarter of it (a "1 GB" Pi shows 906 MB)."""
        if self.total_mb is None:
            return None
        nominal = 2 ** (int(self.total_mb - 1).bit_length())
        return float(nominal) if self.total_mb >= 0.75 * nominal else self.total_mb


def memory_info(meminfo: str | None = None) -> MemoryInfo:
    values = hardware.meminfo_mb(meminfo)
    return MemoryInfo(values.get("MemTotal"), values.get("MemAvailable"))


@dataclass(frozen=True)
class GpuInfo:
    nvidia_driver: bool  # /proc/driver/nvidia: a desktop or server NVIDIA driver is loaded
    jetson: str  # the L4T release line on a Jetson, else ""
    runtimes: tuple[hardware.RuntimeSupport, ...]

    @property
    def present(self) -> bool:
        return self.nvidia_driver or bool(self.jetson)


def gpu_info() -> GpuInfo:
    jetson = _read("/etc/nv_tegra_release").splitlines()[:1]
    return GpuInfo(
        nvidia_driver=Path("/proc/driver/nvidia/gpus").is_dir(),
        jetson=jetson[0].strip("# ").strip() if jetson else "",
        runtimes=(
            hardware.ctranslate2_support(),
            hardware.sherpa_onnx_support(),
            hardware.onnxruntime_support(),
        ),
    )


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: int


@dataclass(frozen=True)
class AudioInfo:
    backend: str  # "pyaudio", or "" when none is importable
    devices: tuple[AudioDevice, ...] = ()
    note: str = ""
    # `edge live` full duplex: "WebRTC AEC3 (livekit 1.2.1)...", or why there is none
    echo_cancellation: str = ""
    aec_available: bool = False


def aec_info() -> tuple[bool, str]:
    """Whether `edge live` can cancel echo (full duplex), and what with or why not."""
    from importlib import metadata

    from .live import aec, speexdsp

    reason = aec.unavailable_reason()
    if reason is not None:
        return False, f"unavailable: {reason}; edge live runs half duplex ({aec.INSTALL_HINT})"
    text = f"WebRTC AEC3 (livekit {metadata.version('livekit')}): full duplex"
    linear = speexdsp.unavailable_reason()
    if linear is None:
        return True, f"{text}; speexdsp's linear filter keeps speech over the device's voice"
    return True, (
        f"{text}; no linear filter ({linear}): the first syllables over the device's voice "
        f"may be lost ({speexdsp.INSTALL_HINT})"
    )


def audio_info() -> AudioInfo:
    available, aec = aec_info()
    info = _devices()
    return dataclasses.replace(info, echo_cancellation=aec, aec_available=available)


def _devices() -> AudioInfo:
    try:
        import pyaudio
    except ImportError:
        return AudioInfo("", note="PyAudio is not installed, so no microphone or speaker")
    try:
        with _quiet_stderr():  # PortAudio's ALSA probing prints pages of noise
            audio = pyaudio.PyAudio()
        try:
            devices = []
            for index in range(audio.get_device_count()):
                info = audio.get_device_info_by_index(index)
                devices.append(
                    AudioDevice(
                        index,
                        str(info.get("name", "")),
                        int(info.get("maxInputChannels", 0)),
                        int(info.get("maxOutputChannels", 0)),
                        int(info.get("defaultSampleRate", 0)),
                    )
                )
        finally:
            audio.terminate()
    except (OSError, RuntimeError) as exc:
        return AudioInfo("pyaudio", note=f"PyAudio could not list devices: {exc}")
    return AudioInfo("pyaudio", tuple(devices))


@dataclass(frozen=True)
class ModelFit:
    id: str
    kinds: tuple[str, ...]
    ram_mb: float
    ram_measured: bool
    fits: bool | None  # alone with the runtime, in available memory; None: unknown
    license: str = ""
    # "non-commercial", "unknown" (unverified or "see MODEL_CARD": never commercial-OK)
    # or "" (a known license, whose terms still apply)
    license_flag: str = ""


@dataclass
class Report:
    cpu: CpuInfo
    memory: MemoryInfo
    gpu: GpuInfo
    threads: hardware.StageThreads
    models_dir: str
    models: list[ModelFit]
    audio: AudioInfo
    profile: str | None
    profile_lines: list[str]
    problems: list[Problem] = field(default_factory=list)
    low_memory: bool = False  # the low-memory settings are on by default here

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu": dataclasses.asdict(self.cpu),
            "memory": {
                "total_mb": _round(self.memory.total_mb),
                "available_mb": _round(self.memory.available_mb),
                "device_class_mb": _round(self.memory.device_class_mb),
                "low_memory_mode": self.low_memory,
            },
            "gpu": {
                "nvidia_driver": self.gpu.nvidia_driver,
                "jetson": self.gpu.jetson,
                "runtimes": [r.to_dict() for r in self.gpu.runtimes],
            },
            "threads": dataclasses.asdict(self.threads),
            "models": {
                "dir": self.models_dir,
                "installed": [dataclasses.asdict(m) for m in self.models],
            },
            "audio": dataclasses.asdict(self.audio),
            "recommended_profile": self.profile,
            "profile_explanation": self.profile_lines,
            "problems": [dataclasses.asdict(p) for p in self.problems],
        }


def examine(
    models_dir: Path | None = None, source: str = "eng_Latn", target: str = "eng_Latn"
) -> Report:
    """Look at the device and say what is wrong with it for edge."""
    from .models import ModelStore

    cpu, memory, gpu = cpu_info(), memory_info(), gpu_info()
    store = ModelStore(models_dir)
    problems: list[Problem] = []
    try:
        installed = store.installed()
    except OSError as exc:
        installed = []
        problems.append(
            Problem(f"cannot read the models directory {store.root}: {exc}", "set EDGE_MODELS_DIR")
        )
    fits = [_fit(m, memory.available_mb) for m in installed]
    profile, lines = _recommend(store, memory, cpu, gpu, source, target, problems)
    report = Report(
        cpu=cpu,
        memory=memory,
        gpu=gpu,
        threads=hardware.default_threads(cpu.cores),
        models_dir=str(store.root),
        models=fits,
        audio=audio_info(),
        profile=profile,
        profile_lines=lines,
        problems=problems,
        low_memory=hardware.low_memory_default(memory.total_mb),
    )
    report.problems += find_problems(report)
    return report


def find_problems(report: Report) -> list[Problem]:
    """What stands between this device and running edge well, each with its fix."""
    problems = []
    cpu, sets = report.cpu, set(report.cpu.instruction_sets)
    if cpu.architecture in ("x86_64", "AMD64") and "AVX2" not in sets:
        problems.append(
            Problem(
                "the CPU has no AVX2: CTranslate2 and onnxruntime run their slower kernels",
                "use the tiny or small profile (edge models recommend), or a newer CPU",
            )
        )
    if cpu.architecture.startswith(("arm", "aarch64")) and "NEON" not in sets:
        problems.append(
            Problem(
                "the CPU reports no NEON: the int8 kernels of CTranslate2 and onnxruntime need it",
                "use a 64-bit OS (aarch64) on an ARMv8 board",
            )
        )
    available = report.memory.available_mb
    if available is not None and available < RUNTIME_BASE_MB + HEADROOM_MB + 150:
        problems.append(
            Problem(
                f"only {available:.0f} MB of memory is available",
                "close other programs, or add zram/swap (sudo apt install zram-tools)",
            )
        )
    if not report.models:
        problems.append(
            Problem(
                f"no models are installed in {report.models_dir}",
                "edge models pull demo, or: edge models recommend --ram SIZE --from L --to L",
            )
        )
    too_big = [m.id for m in report.models if m.fits is False]
    if too_big:
        problems.append(
            Problem(
                f"installed models that do not fit in available memory: {', '.join(too_big)}",
                "remove them (edge models remove ID) and pull the recommended profile's models",
            )
        )
    if report.gpu.present:
        for runtime in report.gpu.runtimes:
            if not runtime.cuda:
                problems.append(
                    Problem(
                        f"an NVIDIA GPU is present but {runtime.runtime} cannot use it "
                        f"({runtime.detail})",
                        runtime.fix or "see docs/jetson.md",
                    )
                )
    if not report.audio.backend:
        problems.append(
            Problem(
                "PyAudio is not installed: live microphone translation cannot run",
                "pip install pyaudio (Debian/Raspberry Pi OS: sudo apt install python3-pyaudio)",
            )
        )
    elif report.audio.note:
        problems.append(Problem(report.audio.note, "check the sound card and ALSA setup"))
    elif not report.audio.devices:
        problems.append(
            Problem(
                "no audio devices were found",
                "plug in a USB microphone and speaker; check them with arecord -l and aplay -l",
            )
        )
    elif not any(d.inputs for d in report.audio.devices):
        problems.append(
            Problem("no audio input device was found", "plug in a USB microphone or a HAT")
        )
    disk = _free_disk_mb(Path(report.models_dir))
    if disk is not None and disk < MIN_FREE_DISK_MB:
        problems.append(
            Problem(
                f"only {disk:.0f} MB free for models in {report.models_dir}",
                "free disk space or set EDGE_MODELS_DIR to a larger disk",
            )
        )
    return problems


def _fit(model: Any, available_mb: float | None) -> ModelFit:
    from .models.catalog import license_unverified

    ram, measured = estimated_ram_mb(model)
    fits = None if available_mb is None else RUNTIME_BASE_MB + ram + HEADROOM_MB <= available_mb
    license = str(getattr(model, "license", ""))
    flag = ""
    if getattr(model, "non_commercial", False):
        flag = "non-commercial"
    elif license_unverified(license):
        flag = "unknown"
    return ModelFit(model.id, tuple(model.kinds), round(ram, 1), measured, fits, license, flag)


def _recommend(
    store: Any,
    memory: MemoryInfo,
    cpu: CpuInfo,
    gpu: GpuInfo,
    source: str,
    target: str,
    problems: list[Problem],
) -> tuple[str | None, list[str]]:
    from .models.profiles import recommend

    ram = memory.device_class_mb
    if ram is None:
        return None, ["the amount of RAM is unknown (no /proc/meminfo)"]
    try:
        catalog = store.catalog
        # A board profile (Jetson) only for that board, whatever its RAM.
        profiles = {
            key: profile
            for key, profile in catalog.profiles.items()
            if key not in BOARD_PROFILES or BOARD_PROFILES[key] in cpu.board or gpu.jetson
        }
        catalog = dataclasses.replace(catalog, profiles=profiles)
        selection, lines = recommend(catalog, ram, source, target)
    except EdgeError as exc:
        problems.append(Problem(f"no profile fits this device: {exc.problem}", exc.fix))
        return None, []
    return selection.profile.id, lines


def render(report: Report) -> str:
    cpu, memory = report.cpu, report.memory
    lines = [
        f"CPU      {cpu.model} ({cpu.architecture}), {cpu.cores} usable cores"
        + (f" of {cpu.logical_cpus}" if cpu.logical_cpus != cpu.cores else ""),
        f"         instruction sets: {', '.join(cpu.instruction_sets) or 'none of note'}",
    ]
    if cpu.board:
        lines.append(f"board    {cpu.board}")
    mode = (
        f"low-memory mode on (under {hardware.LOW_MEMORY_BELOW_MB:.0f} MB)"
        if report.low_memory
        else "low-memory mode off"
    )
    lines.append(
        f"memory   {_mb(memory.total_mb)} total, {_mb(memory.available_mb)} available; {mode}"
    )
    gpu = report.gpu
    found = "Jetson, " + gpu.jetson if gpu.jetson else "NVIDIA driver loaded"
    lines.append(f"GPU      {found if gpu.present else 'no NVIDIA GPU found'}")
    for runtime in gpu.runtimes:
        state = "CUDA" if runtime.cuda else "CPU only"
        types = f" [{', '.join(runtime.compute_types)}]" if runtime.compute_types else ""
        lines.append(
            f"         {runtime.runtime} {runtime.version}: {state}: {runtime.detail}{types}"
        )
    t = report.threads
    lines.append(f"threads  ASR {t.asr}, MT {t.mt}, TTS {t.tts}, VAD {t.vad} (per stage)")
    lines.append(f"models   {report.models_dir}")
    for m in report.models:
        fit = {True: "fits", False: "DOES NOT FIT", None: "fit unknown"}[m.fits]
        how = "measured" if m.ram_measured else "estimated"
        license = ""
        if m.license_flag == "non-commercial":
            license = f"; license {m.license}: NON-COMMERCIAL"
        elif m.license_flag == "unknown":
            license = f"; license unknown ({m.license or 'none recorded'}): not commercial-OK"
        lines.append(
            f"         {m.id} ({'/'.join(m.kinds)}): {m.ram_mb:.0f} MB {how}, {fit}{license}"
        )
    if not report.models:
        lines.append("         none installed")
    audio = report.audio
    if audio.backend:
        lines.append(f"audio    {audio.backend}: {len(audio.devices)} devices")
        for d in audio.devices:
            lines.append(
                f"         [{d.index}] {d.name}: {d.inputs} in, {d.outputs} out, {d.default_rate} Hz"
            )
    else:
        lines.append(f"audio    {audio.note}")
    if audio.echo_cancellation:
        lines.append(f"         echo cancellation: {audio.echo_cancellation}")
    if report.profile:
        lines.append(f"profile  {report.profile} (recommended)")
        lines += [f"         {line.strip()}" for line in report.profile_lines[1:]]
    if report.problems:
        lines.append(f"problems {len(report.problems)}")
        for p in report.problems:
            lines.append(f"  - {p.problem}")
            lines.append(f"    fix: {p.fix}")
    else:
        lines.append("problems none")
    return "\n".join(lines)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _free_disk_mb(path: Path) -> float | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free / 2**20
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _mb(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} MB"
