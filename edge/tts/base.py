"""Speech synthesis interface."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Voice(Protocol):
    sample_rate: int
    language: str  # FLORES-200 code

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield float32 mono chunks at ``sample_rate`` as soon as each is ready."""
        ...
