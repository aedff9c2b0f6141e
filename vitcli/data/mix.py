"""Mix recipes: several sources into one dataset with per-source sampling. A YAML/JSON file:

    sources:
      - {kind: llava, path: llava.json, images: imgs/, ratio: 0.5}     # a seeded half of the rows
      - {kind: coco, path: captions_train2017.json, images: coco/, max_samples: 1000}
      - {kind: imagefolder, path: folder/, ratio: 2}                   # two copies (ids of copy k end '#k')

Relative paths are relative to the recipe file. Keys are SourceSpec fields; `columns` is a mapping."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vitcli.data.sources.common import SourceSpec
from vitcli.runtime.errors import ConfigError

KINDS = ("llava", "messages", "coco", "vqav2", "imagefolder", "hf")
PATH_KEYS = ("path", "images", "annotations")


def load_mix(path: str | None) -> list[SourceSpec]:
    import yaml

    if not path:
        raise ConfigError("no mix recipe given", "pass --mix recipe.yaml")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"mix recipe '{p}' not found", "pass a YAML/JSON file with a 'sources' list")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"mix recipe '{p}' is not valid YAML: {str(e).splitlines()[0]}", "fix the file") from None
    entries = data.get("sources") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"mix recipe '{p}' has no 'sources' list", "see `vitcli build-dataset mix --help`")
    fields = {f.name for f in dataclasses.fields(SourceSpec)}
    specs = []
    for i, e in enumerate(entries, start=1):
        if not isinstance(e, dict) or e.get("kind") not in KINDS:
            raise ConfigError(f"source {i} of '{p.name}' needs kind: one of {', '.join(KINDS)}", "fix the recipe")
        unknown = set(e) - fields
        if unknown:
            raise ConfigError(
                f"source {i} of '{p.name}' has unknown keys: {', '.join(sorted(unknown))}",
                f"allowed: {', '.join(sorted(fields))}",
            )
        e = {
            **e,
            **{
                k: str((p.parent / e[k]).resolve()) if not Path(str(e[k])).is_absolute() else str(e[k])
                for k in PATH_KEYS
                if e.get(k) and not (k == "path" and e["kind"] == "hf" and not (p.parent / e[k]).exists())
            },
        }
        ratio = e.get("ratio", 1.0)
        if not isinstance(ratio, (int, float)) or ratio <= 0:
            raise ConfigError(f"source {i} of '{p.name}': ratio must be a positive number", "e.g. ratio: 0.5")
        specs.append(SourceSpec(**e))
    return specs
