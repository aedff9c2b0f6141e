"""`vitcli caption`: parse flags into a CaptionConfig, run inference.caption.caption_images, print each batch
as it completes (text lines or JSON lines, to stdout or atomically to --output)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from vitcli.cli import output
from vitcli.cli.options import AllowPickle, Device, Dtype, Json, LoadIn, Overwrite, Seed

HELP = """Caption images, or ask a question about them, with a vitcli run or any image-text-to-text model
(LLaVA-1.5/NeXT/OneVision, Qwen2-VL, Qwen2.5-VL, Idefics3, SmolVLM, Gemma 3, Aya Vision, InternVL, Mistral3,
PaliGemma, BLIP, BLIP-2, GIT, Florence-2, ViT-GPT2 VisionEncoderDecoder; see README "Model families").

Inputs: files, globs, folders (--recursive), '-' for one path per line on stdin, --data DIR --split S
(a built dataset), or --requests FILE (JSONL of {"image": ..., "prompt": ...}).
Prints one line per image (PATH<TAB>TEXT when there are several) or JSON lines with --json.
VisionEncoderDecoder captioners take no --prompt.

Examples: vitcli caption --model runs/shapes img.png
          ls *.png | vitcli caption --model runs/shapes - --json"""


def caption_command(
    model: Annotated[str, typer.Option("--model", help="Run folder, local model dir or hub id.")],
    images: Annotated[
        list[str] | None,
        typer.Argument(help="Image files, globs, folders, or '-' to read paths from stdin.", show_default=False),
    ] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="Ask this instead of captioning.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="A built dataset folder.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split of --data.")] = "test",
    requests: Annotated[str | None, typer.Option("--requests", help='JSONL of {"image", "prompt"}.')] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into subfolders.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 32,
    num_beams: Annotated[int, typer.Option("--num-beams", min=1)] = 1,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 1.0,
    seed: Seed = None,
    backend: Annotated[str, typer.Option("--backend", help="transformers | vllm.")] = "transformers",
    output_file: Annotated[str | None, typer.Option("--output", "-o", help="Write results to FILE.")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first bad image.")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Allow model code from the hub.")
    ] = False,
    allow_pickle: AllowPickle = False,
    overwrite: Overwrite = False,
    device: Device = "auto",
    dtype: Dtype = "auto",
    load_in: LoadIn = "auto",
    as_json: Json = False,
) -> None:
    from vitcli.config import GenerationConfig
    from vitcli.config_checks import check_load_in, validate_generation_config
    from vitcli.inference.caption import CaptionConfig, CaptionResult, caption_images
    from vitcli.runtime.io import atomic_write, check_output_free

    if output_file and output_file != "-":  # refuse before loading the model, not after captioning
        check_output_free(Path(output_file), overwrite, "--output")
    images = images or []
    gen = GenerationConfig(
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        seed=seed or 0,
    )
    validate_generation_config(gen)
    check_load_in(load_in, dtype, device)
    cfg = CaptionConfig(
        model=model,
        images=images,
        prompt=prompt,
        data=data,
        split=split,
        requests=requests,
        recursive=recursive,
        generation=gen,
        backend=backend,
        device=device,
        dtype=dtype,
        load_in=load_in,
        fail_fast=fail_fast,
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
    )
    several = bool(data or requests) or len(images) != 1 or is_many(images[0])

    def show(batch: list[CaptionResult]) -> None:
        advance(len(batch))
        for r in batch:
            if r.error:
                output.log(f"Error: {r.error}")
            if as_json:
                output.emit_json(r.to_json())
            elif r.error is None:
                text = " ".join((r.text or "").split())  # one line per image, whatever the model wrote
                output.emit_line(f"{r.image}\t{text}" if several else text)

    output.quiet_libraries()
    sink = atomic_write(output_file) if output_file else contextlib.nullcontext(sys.stdout)
    # A bar only when results do not go to the same terminal (it would garble them); `sink` holds the real
    # stdout, so results never pass through rich's stdout redirection.
    bar = (
        output.progress_bar("caption", None)
        if output_file or not sys.stdout.isatty()
        else contextlib.nullcontext(lambda advance=1, **_: None)
    )
    try:
        with bar as advance, sink as f, contextlib.redirect_stdout(f):
            results = caption_images(cfg, on_results=show)
    except BrokenPipeError:  # `vitcli caption ... | head` closed our stdout: stop quietly, like other tools
        silence_stdout()
        raise typer.Exit(0) from None
    failed = sum(r.error is not None for r in results)
    if failed:
        output.log(f"Error: {failed} of {len(results)} images failed")
        raise typer.Exit(1)


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush does not raise on the closed pipe again."""
    import os

    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def is_many(arg: str) -> bool:
    """Whether one argument can stand for several images: stdin, a folder, or a glob pattern."""
    import glob

    return arg == "-" or Path(arg).is_dir() or (glob.has_magic(arg) and not Path(arg).exists())
