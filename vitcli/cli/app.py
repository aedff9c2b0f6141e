"""The root Typer app: registers the four commands, turns known errors into 'Error: ... / Hint: ...' and exit 1."""

from __future__ import annotations

import os
import sys

import typer

from vitcli import __version__
from vitcli.cli import build_dataset, caption, eval, train
from vitcli.runtime.errors import VitcliError

app = typer.Typer(
    name="vitcli",
    help="Visual instruction tuning: build a dataset, train a LLaVA-style model, evaluate it, caption images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vitcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Visual instruction tuning: build a dataset, train a LLaVA-style model, evaluate it, caption images."""


app.add_typer(build_dataset.app, name="build-dataset")
app.command("train", help=train.HELP, no_args_is_help=True)(train.train_command)
app.command("eval", help=eval.HELP, no_args_is_help=True)(eval.eval_command)
app.command("caption", help=caption.HELP, no_args_is_help=True)(caption.caption_command)


def render_error(err: VitcliError) -> None:
    sys.stderr.write(f"Error: {err.message}\n")
    if err.hint:
        sys.stderr.write(f"Hint: {err.hint}\n")


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 ok, 1 known failure, 2 usage error, 130 interrupted."""
    debug = os.environ.get("VITCLI_DEBUG") == "1"
    try:
        app(args=argv, standalone_mode=False)
    except VitcliError as err:
        if debug:
            raise
        render_error(err)
        sys.exit(1)
    except (typer.Exit, SystemExit) as e:
        sys.exit(getattr(e, "exit_code", getattr(e, "code", 0)) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except Exception as err:  # click usage errors and anything unexpected
        import click

        if isinstance(err, click.exceptions.Abort):
            sys.stderr.write("Interrupted.\n")
            sys.exit(130)
        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if debug:
            raise
        first = str(err).splitlines()[0] if str(err) else ""
        sys.stderr.write(f"Error: unexpected {type(err).__name__}: {first}\n")
        sys.stderr.write("Hint: rerun with VITCLI_DEBUG=1 for the traceback, and report it if it looks like a bug\n")
        sys.exit(1)
