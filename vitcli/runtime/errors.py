"""Errors the CLI knows how to render: a one-line message plus a hint. Raised in core, rendered in cli/app.py."""

from __future__ import annotations


class VitcliError(Exception):
    """A known failure: `message` says what went wrong, `hint` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(VitcliError):
    """Bad flags, presets, config files or --set values."""


class UsageError(ConfigError):
    """A config value the command cannot run with (a bad flag, --set or config file entry); exits 2, like the
    usage errors typer reports itself."""

    exit_code = 2


class DataError(VitcliError):
    """Unreadable, malformed or inconsistent input data."""


class ModelError(VitcliError):
    """A model or checkpoint that cannot be loaded, composed or used."""


class Interrupted(VitcliError):
    """The user stopped the command (SIGINT/SIGTERM) after it saved what it could; exits 130."""

    exit_code = 130
