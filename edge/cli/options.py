"""Option groups shared by the commands, derived from the settings dataclasses.

Every flag here comes from a field made with :func:`edge.settings.setting`: its name, type,
bounds, choices and help. No default is repeated: a flag that is not given stays None and
the dataclass default applies. ``edge translate``, ``edge transcribe`` and ``edge live`` add
the same groups with the functions below, so a setting is spelled alike in all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Collection
from typing import Any, NoReturn, TypeVar

from ..settings import (
    Bounds,
    LanguageSettings,
    ModelSettings,
    OutputSettings,
    RuntimeSettings,
    SpeechSettings,
    bounds,
    dest,
    flag,
    flag_stem,
    settings,
    warn_renamed,
)
from ..vad import RENAMED, VadConfig

__all__ = ["Bounds", "Parser", "number"]

EXIT_INTERRUPTED = 130
EXIT_USAGE = 2  # argparse's

T = TypeVar("T")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `edge translate: error: argument --threads: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(kind: type[int] | type[float], limits: Bounds) -> Callable[[str], int | float]:
    """An argparse ``type`` that refuses values outside ``limits`` with one line."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        problem = limits.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem}, not {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


Group = argparse.ArgumentParser | argparse._ArgumentGroup


def add_settings(
    group: Group,
    cls: type,
    section: str | None,
    *,
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> None:
    """One flag per setting of dataclass ``cls`` in ``section`` (all sections: None)."""
    for f in settings(cls, section):
        if (only is not None and f.name not in only) or f.name in exclude:
            continue
        group.add_argument(flag(f), dest=dest(f), **_argument(f))


def _argument(f: dataclasses.Field[Any], help: str | None = None) -> dict[str, Any]:  # noqa: A002
    """argparse keywords for setting ``f``; every flag defaults to None (not given)."""
    kind, limits = f.metadata["kind"], bounds(f)
    text = _with_default(f) if help is None else help
    if kind is bool:  # --x for a setting off by default; --x/--no-x for one that is on
        if f.default is True:
            return {"action": argparse.BooleanOptionalAction, "help": f.metadata["help"]}
        return {"action": "store_const", "const": True, "help": text}
    arguments: dict[str, Any] = {"help": text, "metavar": f.metadata["metavar"]}
    if f.metadata["choices"]:
        arguments["choices"] = f.metadata["choices"]
    if limits is not None:
        arguments["type"] = number(kind, limits)
    return arguments


def _with_default(f: dataclasses.Field[Any]) -> str:
    """The setting's help, ending in the command's own default (edge live waits longer)."""
    text = f.metadata["help"]
    if f.default in (None, "", False, dataclasses.MISSING) or "default" in text:
        return text
    return f"{text} (default: {f.default})" if text else f"default: {f.default}"


def add_language_options(
    parser: argparse.ArgumentParser, cls: type = LanguageSettings, *, required: bool = False
) -> None:
    """``--from`` and ``--to``; required where no config file can give them."""
    for f in settings(cls, ""):
        if f.name in {g.name for g in settings(LanguageSettings)}:
            parser.add_argument(flag(f), dest=dest(f), required=required, **_argument(f))


def add_model_options(
    parser: argparse.ArgumentParser,
    cls: type = ModelSettings,
    *,
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> None:
    group = parser.add_argument_group("models (default: chosen from the installed models)")
    add_settings(group, cls, "models", only=only, exclude=exclude)


def add_runtime_options(
    parser: argparse.ArgumentParser, cls: type = RuntimeSettings, *, speech: bool = True
) -> argparse._ArgumentGroup:
    """Device, threads, beam size (and, with ``speech``, the first phrase spoken early)."""
    group = parser.add_argument_group("runtime")
    add_settings(group, cls, "runtime", only={f.name for f in settings(RuntimeSettings)})
    if speech:
        add_settings(group, cls, "", only={f.name for f in settings(SpeechSettings)})
    return group


def add_vad_options(parser: argparse.ArgumentParser, cls: type = VadConfig) -> None:
    """VadConfig's settings (``cls``: a dataclass inheriting them, with its own defaults),
    and the old flags of renamed ones, hidden, still accepted with a warning."""
    group = parser.add_argument_group("voice activity detection")
    add_settings(group, cls, "vad")
    fields = {f.name: f for f in settings(cls, "vad")}
    for old, new in RENAMED.items():
        group.add_argument(
            "--" + flag_stem(old),
            dest=flag_stem(old).replace("-", "_"),
            **_argument(fields[new], help=argparse.SUPPRESS),
        )


def add_output_options(parser: argparse.ArgumentParser, cls: type = OutputSettings) -> None:
    add_settings(parser, cls, "runtime", only={f.name for f in settings(OutputSettings)})


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """field -> value of the settings of ``cls`` given as flags (renamed flags included)."""
    values = {
        f.name: getattr(args, dest(f))
        for f in settings(cls)
        if getattr(args, dest(f), None) is not None
    }
    for old, new in RENAMED.items():
        value = getattr(args, flag_stem(old).replace("-", "_"), None)
        if value is not None:
            warn_renamed("--" + flag_stem(old), "--" + flag_stem(new))
            values.setdefault(new, value)
    return values


def build(args: argparse.Namespace, cls: type[T]) -> T:
    """A ``cls`` from its defaults with the flags in ``args`` laid over them."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in given(args, cls).items() if k in names})
