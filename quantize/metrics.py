"""Quality measures: WER (jiwer), BLEU and chrF (sacrebleu), and a spectral distance for TTS."""

from __future__ import annotations

import re

import numpy as np

from edge.errors import EdgeError

_PUNCTUATION = re.compile(r"[^\w\s']")


def _require(module: str) -> None:
    raise EdgeError(
        f"the quality report needs {module}", "pip install 'edge-translator[quantize]'"
    ) from None


def normalize_text(text: str) -> str:
    """Lower case without punctuation, so WER counts words rather than formatting."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER in percent over normalized text."""
    try:
        import jiwer
    except ImportError:
        _require("jiwer")
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    # jiwer rejects empty references; a sentence with no words cannot be scored.
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    return 100.0 * jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])


def bleu_chrf(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    try:
        import sacrebleu
    except ImportError:
        _require("sacrebleu")
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    return bleu, chrf


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = 80) -> np.ndarray:
    """Log-mel spectrogram in dB, shape (frames, n_mels); 46 ms windows, 11.6 ms hop at 22 kHz."""
    n_fft = 1024 if sample_rate >= 16000 else 512
    hop = n_fft // 4
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float32), n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    mel = power @ _mel_filterbank(sample_rate, n_fft, n_mels).T
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-mel filters, (n_mels, n_fft // 2 + 1)."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(np.array(sample_rate / 2.0)), n_mels + 2))
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lower = (bins[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - bins[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)


def dtw_cost(cost: np.ndarray) -> float:
    """Cumulative cost of the best monotonic alignment through ``cost`` (n, m).

    Each row is computed at once: with steps from (i-1, j), (i-1, j-1) and (i, j-1),
    D[i, j] = S[j] + min over k <= j of (A[k] - S[k]), where S is the running sum of row i's
    costs and A[k] = cost[i, k] + min(D[i-1, k], D[i-1, k-1]).
    """
    previous = np.cumsum(cost[0])
    for row in cost[1:]:
        diagonal = np.concatenate([[np.inf], previous[:-1]])
        from_above = row + np.minimum(previous, diagonal)
        running = np.cumsum(row)
        previous = running + np.minimum.accumulate(from_above - running)
    return float(previous[-1])


def spectral_distance(reference: np.ndarray, candidate: np.ndarray, sample_rate: int) -> float:
    """Mean log-mel distance in dB between two renderings of a sentence, DTW-aligned.

    Quantization can change durations slightly, so frames are aligned before comparing. The
    frame distance is the RMS over mel bands of the dB difference; the total is divided by the
    longer frame count.
    """
    a, b = log_mel(reference, sample_rate), log_mel(candidate, sample_rate)
    # Silence below -80 dB is the same to a listener however deep it is.
    a, b = np.maximum(a, -80.0), np.maximum(b, -80.0)
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    frame_distance = np.sqrt(np.maximum(squared, 0.0) / a.shape[1])
    return dtw_cost(frame_distance) / max(len(a), len(b))
