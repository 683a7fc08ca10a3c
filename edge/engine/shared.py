"""``Shared``: what the stage objects of one ``Engine`` hold in common."""

from __future__ import annotations

from dataclasses import dataclass

from .channels import Channels
from .config import EchoCheck, EngineConfig, Stages
from .metrics import Meter
from .speculation import Ledger


@dataclass(frozen=True)
class Shared:
    """Built once by ``Engine`` and handed to the lifecycle, the translator and the speaker:
    the models, the settings, the queues between the threads, which jobs are still wanted,
    and the timings."""

    stages: Stages
    config: EngineConfig
    channels: Channels
    ledger: Ledger
    meter: Meter
    echo: EchoCheck | None = None  # full duplex: judges segments the canceller let through


class Part:
    """Base of the lifecycle, the translator and the speaker: the shared pieces as
    attributes, under the same names in each."""

    def __init__(self, shared: Shared) -> None:
        self.stages = shared.stages
        self.config = shared.config
        self.channels = shared.channels
        self.ledger = shared.ledger
        self.meter = shared.meter
        self.echo = shared.echo
