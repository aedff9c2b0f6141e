"""`vitcli build-dataset SOURCE ...`: parse flags, call data.build.build_dataset, render the BuildReport.
One subcommand per source format; the flags after the source's own are shared by all of them."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from vitcli.cli import output
from vitcli.cli.options import Json, Overwrite
from vitcli.data.build import BuildConfig, BuildReport, SourceSpec, build_dataset
from vitcli.data.sources.synthetic import SyntheticConfig
from vitcli.data.validate import DEFAULT_MAX_PIXELS

HELP = """Build a validated instruction dataset from a source.

Every rejected row is listed with its file, row and reason in OUT/build_report.json.

Example: vitcli build-dataset llava llava_665k.json --images data/ --out data/llava --val-ratio 0.01"""

app = typer.Typer(help=HELP, no_args_is_help=True)

Out = Annotated[str, typer.Option("--out", help="Output dataset directory.")]
Images = Annotated[
    str | None,
    typer.Option("--images", help="Image root; paths may not leave it. Default: the folder of the source file."),
]
Split = Annotated[str | None, typer.Option("--split", help="Split for rows of a source without its own splits.")]
ValRatio = Annotated[
    float,
    typer.Option("--val-ratio", min=0.0, max=0.99, help="Carve this share of train rows into validation (seeded)."),
]
TestRatio = Annotated[float, typer.Option("--test-ratio", min=0.0, max=0.99, help="Carve this share into test.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for splits, templates and mix sampling.")]
Strict = Annotated[bool, typer.Option("--strict", help="Stop at the first bad row instead of skipping it.")]
NumProc = Annotated[int, typer.Option("--num-proc", min=1, help="Processes decoding and validating images.")]
MaxSamples = Annotated[int | None, typer.Option("--max-samples", min=1, help="Keep at most N rows per source.")]
MaxPixels = Annotated[
    int, typer.Option("--max-pixels", min=1, help="Reject images with more pixels (decompression bombs).")
]
TemplatesFile = Annotated[str | None, typer.Option("--templates", help="YAML/JSON with brief/detailed/vqa_suffix.")]
CaptionStyle = Annotated[str, typer.Option("--caption-style", help="brief | detailed caption instructions.")]
Export = Annotated[
    tuple[str, str] | None,
    typer.Option(
        "--export", help="Also write FORMAT DIR: llava-json | messages-jsonl | parquet.", metavar="FORMAT DIR"
    ),
]
ImageStorage = Annotated[
    str,
    typer.Option(
        "--image-storage",
        help="copy: each distinct image stored once inside the dataset (self-contained). reference: rows refer to "
        "files under the image root, verified now, which must stay in place (for image sets too large to copy).",
        metavar="copy|reference",
    ),
]
Columns = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        help="Map a column: NAME=ROLE (id, image, images, caption, question, answer, answers, messages, ...).",
    ),
]


def render_report(report: BuildReport, as_json: bool) -> None:
    if as_json:
        output.emit_json(
            {**report.to_json(), "out": report.out, **({"export": report.export} if report.export else {})}
        )
        return
    rows = [
        (split, n, ", ".join(f"{t}={c}" for t, c in report.tasks[split].items())) for split, n in report.counts.items()
    ]
    output.print_table(f"Dataset written to {report.out}", rows, ("split", "rows", "tasks"))
    if "distinct" in report.images:  # each distinct image stored (or referenced) once
        output.print_table("Images", sorted(report.images.items()), ("images", "count"))
    if report.rejected:
        output.print_table(
            f"Rejected rows ({len(report.rejected)}, listed in build_report.json)",
            sorted(report.rejected_by_reason().items()),
            ("reason", "rows"),
        )
    if report.export:
        output.print_table(
            f"Exported {report.export['format']} to {report.export['dir']}",
            sorted(report.export["files"].items()),
            ("file", "rows"),
        )


def run(
    source: str,
    specs: list[SourceSpec],
    out: str,
    *,
    val_ratio: float,
    test_ratio: float,
    seed: int,
    strict: bool,
    num_proc: int,
    max_samples: int | None,
    max_pixels: int,
    templates: str | None,
    caption_style: str,
    export: tuple[str, str] | None,
    image_storage: str,
    overwrite: bool,
    as_json: bool,
    mix: str | None = None,
) -> None:
    import datasets

    datasets.disable_progress_bars()
    cfg = BuildConfig(
        source=source,
        out=out,
        overwrite=overwrite,
        sources=specs,
        mix=mix,
        val_ratio=val_ratio,
        test_ratio=test_ratio,
        seed=seed,
        strict=strict,
        num_proc=num_proc,
        max_samples=max_samples,
        max_pixels=max_pixels,
        templates=templates,
        caption_style=caption_style,
        export=export[0] if export else None,
        export_dir=export[1] if export else None,
        image_storage=image_storage,
    )
    with output.progress_bar(f"build-dataset {source}", None) as update:
        report = build_dataset(cfg, progress=update)
    render_report(report, as_json)


COMMON = {
    "out": (Out, inspect.Parameter.empty),
    "val_ratio": (ValRatio, 0.0),
    "test_ratio": (TestRatio, 0.0),
    "seed": (Seed, 0),
    "strict": (Strict, False),
    "num_proc": (NumProc, 1),
    "max_samples": (MaxSamples, None),
    "max_pixels": (MaxPixels, DEFAULT_MAX_PIXELS),
    "templates": (TemplatesFile, None),
    "caption_style": (CaptionStyle, "brief"),
    "export": (Export, None),
    "image_storage": (ImageStorage, "copy"),
    "overwrite": (Overwrite, False),
    "as_json": (Json, False),
}


def source_command(name: str) -> Callable[[Callable[..., tuple[str, list[SourceSpec]]]], Callable[..., None]]:
    """Register `fn` (source flags -> (kind, specs)) as a subcommand that also takes the COMMON flags."""

    def register(fn: Callable[..., tuple[str, list[SourceSpec]]]) -> Callable[..., None]:
        own = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)

        def command(**kwargs: Any) -> None:
            shared = {k: kwargs.pop(k) for k in COMMON}
            kind, specs = fn(**kwargs)
            run(kind, specs, **shared, mix=kwargs.get("recipe"))

        params = [p.replace(annotation=hints[p.name]) for p in own.parameters.values()]
        params += [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
            for k, (a, d) in COMMON.items()
        ]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = fn.__doc__
        app.command(name, no_args_is_help=True)(command)
        return command

    return register


@app.command("synthetic")
def synthetic_command(
    out: Out,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, byte-identical dataset.")] = 0,
    num_train: Annotated[int, typer.Option(min=1, help="Scenes in the train split.")] = 2000,
    num_val: Annotated[int, typer.Option(min=0, help="Scenes in the validation split.")] = 100,
    num_test: Annotated[int, typer.Option(min=0, help="Scenes in the test split.")] = 200,
    image_size: Annotated[int, typer.Option(min=16, max=1024, help="Image side in pixels.")] = 48,
    with_sizes: Annotated[bool, typer.Option(help="Draw small and large shapes and name sizes.")] = False,
    tasks: Annotated[
        str, typer.Option("--tasks", help="Comma-separated: caption, vqa, pope, multiple-choice, gqa.")
    ] = "caption,vqa",
    overwrite: Overwrite = False,
    as_json: Json = False,
) -> None:
    """Procedurally drawn shape scenes with known ground truth: a caption and 4 VQA questions per image
    (--tasks adds POPE yes/no pairs, a lettered multiple-choice question and a GQA-style relational question).

    Example: vitcli build-dataset synthetic --out data/shapes --num-train 2000
    """
    syn = SyntheticConfig(
        seed=seed,
        num_train=num_train,
        num_val=num_val,
        num_test=num_test,
        image_size=image_size,
        with_sizes=with_sizes,
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
    )
    report = build_dataset(BuildConfig(source="synthetic", out=out, overwrite=overwrite, synthetic=syn))
    render_report(report, as_json)


File = Annotated[str, typer.Argument(help="Source file.")]


@source_command("llava")
def llava_command(file: File, images: Images = None, split: Split = None) -> tuple[str, list[SourceSpec]]:
    """LLaVA conversation JSON/JSONL: {"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]};
    "image" is a path, or a list of paths with one <image> each (multi-image rows).

    Example: vitcli build-dataset llava llava_v1_5_mix665k.json --images data/ --out data/llava --num-proc 8
    """
    return "llava", [SourceSpec("llava", file, images=images, split=split)]


@source_command("messages")
def messages_command(file: File, images: Images = None, split: Split = None) -> tuple[str, list[SourceSpec]]:
    """Chat rows as TRL / LLaMA-Factory use them: {"messages": [{"role", "content"}], "images": [path, ...]}.

    Example: vitcli build-dataset messages chat.jsonl --images imgs/ --out data/chat
    """
    return "messages", [SourceSpec("messages", file, images=images, split=split)]


@source_command("coco")
def coco_command(
    file: Annotated[str, typer.Argument(help="captions_*.json or Karpathy's dataset_coco.json.")],
    images: Images = None,
    split: Split = None,
    each_caption: Annotated[bool, typer.Option("--each-caption", help="One row per caption, not per image.")] = False,
) -> tuple[str, list[SourceSpec]]:
    """COCO caption annotations (or the Karpathy split file, whose splits are kept) to caption instructions.

    Example: vitcli build-dataset coco annotations/captions_val2017.json --images val2017/ --out data/coco
    """
    return "coco", [SourceSpec("coco", file, images=images, split=split, each_caption=each_caption)]


@source_command("vqav2")
def vqav2_command(
    questions: Annotated[str, typer.Option("--questions", help="v2_OpenEnded_mscoco_*_questions.json")],
    annotations: Annotated[
        str | None,
        typer.Option("--annotations", help="v2_mscoco_*_annotations.json (omit for test questions)."),
    ] = None,
    images: Images = None,
    split: Split = None,
    image_pattern: Annotated[
        str | None,
        typer.Option(
            "--image-pattern",
            help="Image path under --images, default '{data_subtype}/COCO_{data_subtype}_{image_id:012d}.jpg'.",
        ),
    ] = None,
) -> tuple[str, list[SourceSpec]]:
    """VQA v2 questions + annotations: all 10 answers and types; target multiple_choice_answer.

    Example: vitcli build-dataset vqav2 --questions q.json --annotations a.json --images coco/ --out data/vqa
    """
    return "vqav2", [
        SourceSpec(
            "vqav2",
            questions,
            images=images,
            annotations=annotations,
            split=split,
            image_pattern=image_pattern,
        )
    ]


@source_command("imagefolder")
def imagefolder_command(
    folder: Annotated[str, typer.Argument(help="Folder with images and metadata.jsonl/metadata.csv.")],
    column: Columns = None,
    split: Split = None,
) -> tuple[str, list[SourceSpec]]:
    """HF imagefolder: images + metadata.jsonl/csv (file_name + caption/text or question/answer(s)).

    Example: vitcli build-dataset imagefolder photos/ --column description=caption --out data/photos
    """
    from vitcli.data.sources.imagefolder import parse_columns

    return "imagefolder", [SourceSpec("imagefolder", folder, columns=parse_columns(column or []), split=split)]


@source_command("hf")
def hf_command(
    name: Annotated[str, typer.Argument(help="Hub id, or a local parquet/json/jsonl/csv/arrow file or folder.")],
    config: Annotated[str | None, typer.Option("--config", help="Dataset config name.")] = None,
    hf_split: Annotated[str | None, typer.Option("--hf-split", help="Only this split of the source.")] = None,
    column: Columns = None,
    images: Images = None,
    split: Split = None,
) -> tuple[str, list[SourceSpec]]:
    """Anything datasets.load_dataset reads, mapped by column names (see --column); TRL's VLM layout
    (messages with typed parts + an images column) needs no mapping.

    Example: vitcli build-dataset hf data/train.parquet --column caption_en=caption --out data/hf
    """
    from vitcli.data.sources.imagefolder import parse_columns

    return "hf", [
        SourceSpec(
            "hf",
            name,
            images=images,
            hf_config=config,
            hf_split=hf_split,
            split=split,
            columns=parse_columns(column or []),
        )
    ]


@source_command("mix")
def mix_command(
    recipe: Annotated[str, typer.Argument(help="YAML/JSON recipe: sources: [{kind, path, images, ratio, ...}].")],
) -> tuple[str, list[SourceSpec]]:
    """Several sources into one dataset with per-source sampling ratios (ratio, max_samples per source).

    Example: vitcli build-dataset mix recipe.yaml --out data/mix --val-ratio 0.01
    """
    return "mix", []
