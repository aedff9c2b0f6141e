"""Two small image worlds the tiny preset was never tuned on, written as HF imagefolders (one folder per split with
metadata.jsonl: file_name + caption, or file_name + question + answers) for `vitcli build-dataset imagefolder`.

- bars:    96 px bar charts of 2-5 coloured bars; how many bars, the colour of the tallest, where it stands.
- letters: 64 px tiles, one capital letter (A-H) in one colour on a background of another; which letter, which colours.

Both differ from the shapes world in image size, vocabulary and what must be read from the image. Each question
carries 10 identical answers: the official VQA metric scores an answer by its matches among the *other* answers, so
a row with one answer always scores 0.
Usage: python benchmarks/worlds.py OUT_DIR [--train N] [--seed S]"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "black": (20, 20, 20),
}
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}
LETTERS = "ABCDEFGH"
SHORT = "Answer the question using a single word or phrase."


def bars_scene(rng: random.Random) -> tuple[Image.Image, str, list[tuple[str, str]]]:
    n = rng.randint(2, 5)
    colours = rng.sample(list(COLOURS), n)
    heights = rng.sample(range(20, 86, 5), n)  # distinct heights, so "the tallest" is one bar
    img = Image.new("RGB", (96, 96), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    width = 80 // n
    for i, (c, h) in enumerate(zip(colours, heights, strict=True)):
        x = 8 + i * width
        draw.rectangle([x + 2, 92 - h, x + width - 2, 92], fill=COLOURS[c])
    top = heights.index(max(heights))
    side = "left" if (top + 0.5) / n < 0.5 else "right" if (top + 0.5) / n > 0.5 else "middle"
    caption = f"A bar chart with {NUMBERS[n]} bars; the tallest bar is {colours[top]}."
    probe = rng.choice(list(COLOURS))
    qa = [
        ("How many bars are there?", NUMBERS[n]),
        ("What colour is the tallest bar?", colours[top]),
        ("Where is the tallest bar?", side),
        (f"Is there a {probe} bar?", "yes" if probe in colours else "no"),
    ]
    return img, caption, qa


def letters_scene(rng: random.Random, font: ImageFont.FreeTypeFont) -> tuple[Image.Image, str, list[tuple[str, str]]]:
    letter = rng.choice(LETTERS)
    fg, bg = rng.sample(list(COLOURS), 2)
    img = Image.new("RGB", (64, 64), COLOURS[bg])
    draw = ImageDraw.Draw(img)
    dx, dy = rng.randint(-6, 6), rng.randint(-6, 6)
    draw.text((32 + dx, 32 + dy), letter, fill=COLOURS[fg], font=font, anchor="mm")
    caption = f"A {fg} letter {letter} on a {bg} background."
    qa = [
        ("Which letter is shown?", letter),
        ("What colour is the letter?", fg),
        ("What colour is the background?", bg),
    ]
    return img, caption, qa


def write_world(name: str, out: Path, sizes: dict[str, int], seed: int) -> Path:
    rng = random.Random(seed)
    font = ImageFont.load_default(size=40)
    root = out / name
    for split, count in sizes.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(count):
            img, caption, qa = bars_scene(rng) if name == "bars" else letters_scene(rng, font)
            file_name = f"{name}-{split}-{i:05d}.png"
            img.save(folder / file_name)
            rows.append({"file_name": file_name, "id": f"{file_name[:-4]}-c", "caption": caption})
            for k, (question, answer) in enumerate(qa):
                rows.append(
                    {
                        "file_name": file_name,
                        "id": f"{file_name[:-4]}-q{k}",
                        "question": question,
                        "answers": [answer] * 10,
                    }
                )
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / "metadata.jsonl").write_text(text, encoding="utf-8")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = {"train": args.train, "validation": max(args.train // 15, 20), "test": max(args.train // 7, 40)}
    for name in ("bars", "letters"):
        print(write_world(name, args.out, sizes, args.seed))


if __name__ == "__main__":
    main()
