"""`python -m vitcli` and the `vitcli` console script (also what `torchrun -m vitcli` runs).
The CLI is imported inside entry() so a Ctrl-C during the (heavy) imports still exits 130 without a traceback."""

from __future__ import annotations

import sys


def entry() -> None:
    try:
        from vitcli.cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    entry()
