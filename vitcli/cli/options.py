"""Shared option aliases, so every command spells --device, --dtype, --json, --seed, --set the same way."""

from __future__ import annotations

from typing import Annotated

import typer

Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N | mps.")]
Dtype = Annotated[str, typer.Option("--dtype", help="auto (bf16 on CUDA, else fp32) | bf16 | fp16 | fp32.")]
LoadIn = Annotated[
    str,
    typer.Option(
        "--load-in", help="Weight storage: auto (= --dtype) | fp32 | bf16 | fp16 | 8bit | 4bit (bitsandbytes, CUDA)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON lines on stdout instead of a table.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
AllowPickle = Annotated[
    bool,
    typer.Option("--allow-pickle", help="Load .bin/.pt weights of a folder without safetensors (weights_only=True)."),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="Override any config key: --set key=value (repeatable).")]
ConfigFile = Annotated[str | None, typer.Option("--config", help="YAML/JSON file of config keys.")]
