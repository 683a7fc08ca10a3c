"""The load check that trust on first use rests on: does a downloaded model really load and
run, before its sha256 is pinned?

A file the catalog publishes no sha256 for is pinned by the first download that passes
this check (``ModelStore.pull``). The check loads the staged model with the runtime's own
loaders (``edge.translator.load_recognizer``, ``load_mt``, ``load_voice``; Silero VAD for
``vad``) on the CPU with one thread, and runs it once on a tiny input, the same probes the
runtime uses before it trusts a GPU. An HTML error page saved as ``model.bin`` or a
truncated graph fails here, and nothing is pinned or installed. A file that is wrong but
still loads (other weights of the same shape) is not caught: the pin then guards only
against later changes.

It runs in a child process (``python -m edge.models.check DIR`` does the same by hand): a
native crash of a runtime on malformed bytes then fails the check instead of the ``edge``
process, and the memory of a large model goes back to the system at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..errors import EdgeError, ModelError

CHECK_TIMEOUT_S = 900.0
# The child's entry point (``-m edge.models.check`` would import this module twice).
_CHILD = "import sys; from edge.models.check import main; sys.exit(main())"


class LoadCheckError(ModelError):
    """A downloaded model did not load and run: nothing of it may be pinned."""


def run_once(model_dir: Path) -> str:
    """Load the model in ``model_dir`` (with its model record) and run it once.

    Returns what was checked, e.g. ``"mt: translated 1 sentence"``; raises on failure.
    """
    import numpy as np

    from .record import read_record, record_path

    record = read_record(model_dir)
    if record is None:
        raise ModelError(f"{record_path(model_dir)} is missing", "install the model again")
    kinds = list(record.kinds)
    from .. import translator
    from ..translator import RuntimeOptions

    options = RuntimeOptions(
        device="cpu", asr_threads=1, mt_threads=1, tts_threads=1, low_memory=False
    )
    done = []
    if "vad" in kinds:
        from ..vad import FRAME, SileroVad

        vad = SileroVad(model_dir / str(record.options.get("model", "")))
        vad(np.zeros(FRAME, np.float32))
        done.append("vad: scored 1 frame")
    if {"asr-streaming", "asr-segment", "direct-st"} & set(kinds):
        from ..asr.base import StreamingRecognizer
        from ..asr.whisper_ct2 import WhisperCT2

        recognizer = translator.load_recognizer(model_dir, options)
        if isinstance(recognizer, WhisperCT2):
            translator._probe_whisper(recognizer)
        elif isinstance(recognizer, StreamingRecognizer):
            translator._probe_streaming(recognizer)
        else:
            translator._probe_segment(recognizer)
        done.append("asr: decoded 0.5 s")
    if "mt" in kinds:
        translator._probe_mt(translator.load_mt(model_dir, options))
        done.append("mt: translated 1 sentence")
    if "tts" in kinds:
        translator._probe_voice(translator.load_voice(model_dir, options))
        done.append("tts: spoke 1 word")
    if not done:
        raise ModelError(f"no load check for kinds {kinds}", "fix the catalog entry")
    return "; ".join(done)


def load_check(model_dir: Path, model_id: str = "") -> str:
    """Run :func:`run_once` in a child process; raise ModelError with its reason."""
    label = model_id or model_dir.name
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    try:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(model_dir)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise LoadCheckError(
            f"{label}: the downloaded model did not load within {CHECK_TIMEOUT_S:.0f} s, "
            "so nothing was pinned or installed",
            "run the same command again on an idle device",
        ) from None
    if result.returncode == 0:
        return result.stdout.strip()
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines()]
    reason = next((line for line in reversed(lines) if line), "")
    if result.returncode < 0:
        reason = f"the runtime crashed (signal {-result.returncode})"
    raise LoadCheckError(
        f"{label}: the files do not load as a model ({reason or 'no reason given'}), "
        "so nothing was pinned or installed",
        "a download may have been an error page or cut off: run the same command again "
        f"later, or get the files elsewhere and run: edge models import PATH --id {label}",
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m edge.models.check MODEL_DIR", file=sys.stderr)
        return 2
    try:
        print(run_once(Path(args[0])))
    except EdgeError as exc:
        print(exc.problem, file=sys.stderr)
        return 1
    except Exception as exc:  # any runtime error means: this model does not load
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"{type(exc).__name__}: {first}"[:300], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
