"""The root Typer app: registers the commands and turns errors into 'Error: ... / Hint: ...' with exit codes
0 ok, 1 known failure, 2 usage error, 130 interrupted. VITCLI_DEBUG=1 shows tracebacks instead."""

from __future__ import annotations

import os
import signal
import sys

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions

from vitcli import __version__
from vitcli.cli import build_dataset, caption, env, eval, train
from vitcli.runtime.errors import VitcliError

# Exits, usage errors and aborts are rendered by typer itself (usage errors exit 2).
PASS_THROUGH = tuple(
    {
        typer.Exit,
        typer.Abort,
        SystemExit,
        click_exceptions.ClickException,
        getattr(click_exceptions, "Exit", SystemExit),
        getattr(click_exceptions, "Abort", SystemExit),
    }
)
DEBUG_HINT = "rerun with VITCLI_DEBUG=1 for the traceback, and report it if it looks like a bug"


def render_error(message: str, hint: str = "") -> None:
    sys.stderr.write(f"Error: {message}\n")
    if hint:
        sys.stderr.write(f"Hint: {hint}\n")
    sys.stderr.flush()


class VitcliGroup(TyperGroup):
    """Catches what commands raise, so `vitcli ...` and CliRunner tests see the same output and exit codes."""

    def invoke(self, ctx):  # noqa: ANN001 (typer's Context)
        debug = os.environ.get("VITCLI_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except PASS_THROUGH:
            raise
        except VitcliError as err:
            if debug:
                raise
            render_error(err.message, err.hint)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            sys.stderr.write("Interrupted.\n")
            ctx.exit(130)
        except Exception as err:  # an unknown failure: one line, not a traceback
            if debug:
                raise
            first = str(err).splitlines()[0] if str(err) else ""
            render_error(f"unexpected {type(err).__name__}: {first}", DEBUG_HINT)
            ctx.exit(1)


app = typer.Typer(
    name="vitcli",
    cls=VitcliGroup,
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
    """Visual instruction tuning: build a dataset, train a LLaVA-style model, evaluate it, caption images.

    \b
    Examples:
      vitcli build-dataset synthetic --out data/shapes
      vitcli train --data data/shapes --output runs/shapes --preset tiny
      vitcli eval --model runs/shapes --data data/shapes --task vqa --json
      vitcli caption --model runs/shapes image.png
      vitcli env --json
    """


app.add_typer(build_dataset.app, name="build-dataset", help=build_dataset.HELP)
app.command("train", help=train.HELP, no_args_is_help=True)(train.train_command)
app.command("eval", help=eval.HELP, no_args_is_help=True)(eval.eval_command)
app.command("caption", help=caption.HELP, no_args_is_help=True)(caption.caption_command)
app.command("env", help=env.HELP)(env.env_command)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: temporary outputs are removed and the command exits 130. (`train` swaps in
    its own handler while training, to checkpoint at the next step first.)"""
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
