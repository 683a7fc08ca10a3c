"""``edge wyoming``: the Wyoming server for Home Assistant (:mod:`edge.wyoming.cli`)."""

from ..wyoming.cli import add_parser, run

__all__ = ["add_parser", "run"]
