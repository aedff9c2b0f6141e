"""`vitcli build-dataset SOURCE ...`: parse flags, call data.build.build_dataset, render the BuildReport."""

from __future__ import annotations

from typing import Annotated

import typer

from vitcli.cli import output
from vitcli.cli.options import Json, Overwrite
from vitcli.data.build import BuildConfig, BuildReport, build_dataset
from vitcli.data.sources.synthetic import SyntheticConfig

HELP = """Build a validated instruction dataset from a source.

Example: vitcli build-dataset synthetic --out data/shapes"""

app = typer.Typer(help=HELP, no_args_is_help=True)


def render_report(report: BuildReport, as_json: bool) -> None:
    if as_json:
        output.emit_json(report.to_json())
        return
    rows = [(split, n, ", ".join(f"{t}={c}" for t, c in report.tasks[split].items())) for split, n in report.counts.items()]
    output.print_table(f"Dataset written to {report.out}", rows, ("split", "rows", "tasks"))
    if report.rejected:
        output.print_table("Rejected rows", sorted(report.rejected_by_reason().items()), ("reason", "rows"))


@app.command("synthetic")
def synthetic_command(
    out: Annotated[str, typer.Option("--out", help="Output dataset directory.")],
    seed: Annotated[int, typer.Option(help="Random seed; same seed, byte-identical dataset.")] = 0,
    num_train: Annotated[int, typer.Option(min=1, help="Scenes in the train split.")] = 2000,
    num_val: Annotated[int, typer.Option(min=0, help="Scenes in the validation split.")] = 100,
    num_test: Annotated[int, typer.Option(min=0, help="Scenes in the test split.")] = 200,
    image_size: Annotated[int, typer.Option(min=16, max=1024, help="Image side in pixels.")] = 64,
    with_sizes: Annotated[bool, typer.Option(help="Draw small and large shapes and name sizes in captions.")] = False,
    overwrite: Overwrite = False,
    as_json: Json = False,
) -> None:
    """Procedurally drawn shape scenes with known ground truth: a caption and 4 VQA questions per image.

    Example: vitcli build-dataset synthetic --out data/shapes --num-train 2000
    """
    syn = SyntheticConfig(seed=seed, num_train=num_train, num_val=num_val, num_test=num_test,
                          image_size=image_size, with_sizes=with_sizes)
    report = build_dataset(BuildConfig(source="synthetic", out=out, overwrite=overwrite, synthetic=syn))
    render_report(report, as_json)
