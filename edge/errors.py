"""Errors a user can act on: every one carries what went wrong and how to fix it."""

from __future__ import annotations


class EdgeError(Exception):
    """A problem with input, models or configuration, reported as one line by the CLI."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem} ({self.fix})" if self.fix else self.problem


class InputError(EdgeError):
    """The input audio or text cannot be used."""

    exit_code = 2


class ModelError(EdgeError):
    """A model is missing, incomplete or of an unknown kind."""

    exit_code = 3


class LanguageError(EdgeError):
    """A language code is unknown or no installed model covers a language pair."""

    exit_code = 4
