"""`vitcli caption`: parse flags into a CaptionConfig, run inference.caption.caption_images, print as it goes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from vitcli.cli import output
from vitcli.cli.options import Device, Dtype, Json, Seed

HELP = """Caption images, or ask a question about them, with a trained model.

Example: vitcli caption --model runs/shapes img.png   |   ls *.png | vitcli caption --model runs/shapes - --json"""


def caption_command(
    images: Annotated[list[str], typer.Argument(help="Image files, folders, or '-' to read paths from stdin.")],
    model: Annotated[str, typer.Option("--model", help="Run folder, local model dir or hub id.")],
    prompt: Annotated[str | None, typer.Option("--prompt", help="Ask this instead of captioning.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 32,
    num_beams: Annotated[int, typer.Option("--num-beams", min=1)] = 1,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 1.0,
    seed: Seed = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first unreadable image.")] = False,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Allow model code from the hub.")] = False,
    device: Device = "auto",
    dtype: Dtype = "auto",
    as_json: Json = False,
) -> None:
    from vitcli.config import GenerationConfig
    from vitcli.inference.caption import DEFAULT_PROMPT, CaptionConfig, CaptionResult, caption_images

    gen = GenerationConfig(max_new_tokens=max_new_tokens, num_beams=num_beams, temperature=temperature,
                           top_p=top_p, batch_size=batch_size, seed=seed or 0)
    cfg = CaptionConfig(model=model, images=images, prompt=prompt or DEFAULT_PROMPT, generation=gen,
                        device=device, dtype=dtype, fail_fast=fail_fast, trust_remote_code=trust_remote_code)
    several = len(images) > 1 or images[0] == "-" or not images[0].lower().endswith(tuple(".png .jpg .jpeg".split()))

    def show(batch: list[CaptionResult]) -> None:
        for r in batch:
            if r.error:
                output.log(f"Error: {r.error}")
            if as_json:
                output.emit_json(r.to_json())
            elif r.error is None:
                output.emit_line(f"{r.image}\t{r.text}" if several else (r.text or ""))

    output.quiet_libraries()
    results = caption_images(cfg, on_results=show)
    failed = sum(r.error is not None for r in results)
    if failed:
        output.log(f"Error: {failed} of {len(results)} images failed")
        sys.exit(1)
