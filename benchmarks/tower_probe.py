"""What a frozen vision tower tells the LM about the synthetic world, per feature map: a linear probe from one
image's tokens to the contents of each of the 3x3 grid cells (empty or the shape's kind; empty or its colour),
trained on one set of scenes and scored on another. One JSON line per layer:

  {"layer": -4, "pixels": 96, "tokens": 9, "channels": 192, "kind": .., "kind_occupied": .., "colour": ..,
   "colour_occupied": ..}

`*_occupied` counts only cells that hold a shape (empty cells are most cells and easy). A low score means the
information is not linearly there for the projector to pass on, whatever the LM learns.

    python benchmarks/tower_probe.py [--vision efficientnet-lite0] [--pixels 96] [--layers -1 -2 -4]
           [--train 1200] [--test 400]
"""

from __future__ import annotations

import argparse
import io
import json
import random

import torch
import torch.nn.functional as F
from PIL import Image

from vitcli.config import ModelConfig
from vitcli.data.sources.synthetic import COLORS, GRID, SHAPES, draw_scene, sample_scene
from vitcli.modeling.compose import load_tower

CELLS = GRID * GRID


def scenes(rng: random.Random, n: int, pixels: int) -> list[tuple[list, Image.Image]]:
    out = []
    for _ in range(n):
        shapes = sample_scene(rng, False)
        out.append((shapes, Image.open(io.BytesIO(draw_scene(shapes, pixels, rng))).convert("RGB")))
    return out


def cell_labels(data: list[tuple[list, Image.Image]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 9) kind and colour class per cell, 0 = empty."""
    kind = torch.zeros(len(data), CELLS, dtype=torch.long)
    colour = torch.zeros(len(data), CELLS, dtype=torch.long)
    for i, (shapes, _) in enumerate(data):
        for s in shapes:
            kind[i, s.cell] = 1 + SHAPES.index(s.kind)
            colour[i, s.cell] = 1 + list(COLORS).index(s.color)
    return kind, colour


def features(tower, data, layer: int) -> torch.Tensor:  # noqa: ANN001
    """(N, tokens, channels) from hidden_states[layer], as Llava selects them."""
    chunks = []
    with torch.no_grad():
        for i in range(0, len(data), 50):
            pixels = tower.image_processor([im for _, im in data[i : i + 50]], return_tensors="pt")["pixel_values"]
            chunks.append(tower.module(pixels, output_hidden_states=True).hidden_states[layer])
    return torch.cat(chunks)


def probe(train_x, train_y, test_x, test_y, classes: int, steps: int = 300) -> tuple[float, float]:  # noqa: ANN001
    """Linear map from all of an image's (standardised) tokens to every cell's class; (accuracy, on occupied)."""
    torch.manual_seed(0)
    head = torch.nn.Linear(train_x.shape[1], CELLS * classes)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(head(train_x).view(-1, CELLS, classes).transpose(1, 2), train_y).backward()
        opt.step()
    with torch.no_grad():
        pred = head(test_x).view(-1, CELLS, classes).argmax(-1)
    occupied = test_y > 0
    return float((pred == test_y).float().mean()), float((pred[occupied] == test_y[occupied]).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vision", default="efficientnet-lite0")
    ap.add_argument("--pixels", type=int, default=96, help="the tower reads images at this side")
    ap.add_argument("--scene-pixels", type=int, default=48, help="the scenes are drawn at this side (the world's)")
    ap.add_argument("--layers", type=int, nargs="+", default=[-1, -2, -4])
    ap.add_argument("--train", type=int, default=1200)
    ap.add_argument("--test", type=int, default=400)
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = random.Random(0)
    train, test = scenes(rng, args.train, args.scene_pixels), scenes(rng, args.test, args.scene_pixels)
    (train_kind, train_colour), (test_kind, test_colour) = cell_labels(train), cell_labels(test)
    for layer in args.layers:
        cfg = ModelConfig(vision=args.vision, vision_image_size=args.pixels, vision_feature_layer=layer)
        tower = load_tower(cfg)
        train_x, test_x = features(tower, train, layer), features(tower, test, layer)
        mean, spread = train_x.mean((0, 1)), train_x.std((0, 1)) + 1e-5
        train_flat, test_flat = ((train_x - mean) / spread).flatten(1), ((test_x - mean) / spread).flatten(1)
        kind = probe(train_flat, train_kind, test_flat, test_kind, 1 + len(SHAPES))
        colour = probe(train_flat, train_colour, test_flat, test_colour, 1 + len(COLORS))
        print(
            json.dumps(
                {
                    "layer": layer,
                    "pixels": args.pixels,
                    "tokens": train_x.shape[1],
                    "channels": train_x.shape[2],
                    "kind": round(kind[0], 3),
                    "kind_occupied": round(kind[1], 3),
                    "colour": round(colour[0], 3),
                    "colour_occupied": round(colour[1], 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
