"""COCO captions: official annotations ({"images": [{id, file_name}], "annotations": [{image_id, caption}]})
or Karpathy's split file (dataset_coco.json: {"images": [{filepath, filename, cocoid, split, sentences}]}).
One caption row per image: the first caption (file order) is the target and all captions are references;
`each_caption` makes one row per caption instead (ids coco-<image_id>-<k>). Prompts come from templates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vitcli.data.records import Record
from vitcli.data.sources.common import SourceSpec, is_key, require_file, split_from_filename, split_name
from vitcli.data.templates import Templates
from vitcli.data.validate import EMPTY_ANSWER, MALFORMED, Candidate, Rejection
from vitcli.runtime.errors import DataError
from vitcli.runtime.io import read_json


def read_coco(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    path = require_file(spec.path, "COCO annotations file", "pass captions_*.json or Karpathy's dataset_coco.json")
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(
            f"'{path.name}' is not a COCO caption file (no 'images' list)",
            "pass captions_train2017.json-style annotations or dataset_coco.json",
        )
    if isinstance(data.get("annotations"), list):
        images = official_images(data, path)
    elif all(isinstance(im, dict) and "sentences" in im for im in data["images"]):
        images = karpathy_images(data)
    else:
        raise DataError(
            f"'{path.name}' has neither 'annotations' nor Karpathy 'sentences'",
            "pass captions_*.json (with annotations) or dataset_coco.json",
        )
    root, default_split = spec.image_root(), spec.split or split_from_filename(path.name)
    for row, im in enumerate(images, start=1):
        if isinstance(im, Rejection):
            yield Rejection(path.name, row, im.reason)
            continue
        image_id, file_name, captions, split = im
        if not captions:
            yield Rejection(path.name, row, f"{EMPTY_ANSWER}: image {image_id} has no captions")
            continue
        split = spec.split or split_name(split, default_split) if split else default_split
        refs = [c.strip() for c in captions]
        targets = list(enumerate(refs)) if spec.each_caption else [(None, refs[0])]
        for k, target in targets:
            rid = f"coco-{image_id}" if k is None else f"coco-{image_id}-{k}"
            rec = Record(
                id=rid,
                images=[],
                task="caption",
                references=refs,
                source=f"coco:{path.name}:{row}",
                messages=[
                    {"role": "user", "content": templates.caption_prompt(rid)},
                    {"role": "assistant", "content": target},
                ],
            )
            yield Candidate(rec, [file_name], root, path.name, row, split)


def official_images(data: dict[str, Any], path: Path) -> list[tuple | Rejection]:
    captions: dict[Any, list[str]] = defaultdict(list)
    for ann in data["annotations"]:
        if isinstance(ann, dict) and isinstance(ann.get("caption"), str) and is_key(ann.get("image_id")):
            captions[ann.get("image_id")].append(ann["caption"])
    out: list[tuple | Rejection] = []
    for im in data["images"]:
        if not isinstance(im, dict) or not is_key(im.get("id")) or not isinstance(im.get("file_name"), str):
            out.append(Rejection(path.name, 0, f"{MALFORMED}: image entry needs 'id' and 'file_name'"))
            continue
        out.append((im["id"], im["file_name"], captions.get(im["id"], []), None))
    return out


def sentence_text(s: dict[str, Any]) -> str | None:
    """A Karpathy sentence's raw text, else its tokens joined; None when neither is text."""
    if isinstance(s.get("raw"), str):
        return s["raw"]
    tokens = s.get("tokens")
    if isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
        return " ".join(tokens)
    return None


def karpathy_images(data: dict[str, Any]) -> list[tuple | Rejection]:
    out: list[tuple | Rejection] = []
    for im in data["images"]:
        sentences = im.get("sentences") if isinstance(im.get("sentences"), list) else []
        caps = [c for s in sentences if isinstance(s, dict) and (c := sentence_text(s)) is not None]
        if not isinstance(im.get("filename"), str) or not isinstance(im.get("filepath") or "", str):
            out.append(Rejection("", 0, f"{MALFORMED}: image entry needs 'filename' (a string 'filepath')"))
            continue
        name = f"{im['filepath']}/{im['filename']}" if im.get("filepath") else im["filename"]
        out.append((im.get("cocoid", im.get("imgid")), name, caps, im.get("split") or "train"))
    return out
