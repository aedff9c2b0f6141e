"""An offline synthetic world: procedurally drawn scenes of coloured shapes with known ground truth.
Each scene yields one caption record (canonical caption + differently worded references) and VQA records
(colour / count / existence / position) with 10 human-style answers, as in VQA v2. Same seed, same bytes."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from vitcli.data.records import Record

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
GRID = 3
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
CAPTION_PROMPT = "Describe the image briefly."
SHORT_ANSWER = "Answer the question using a single word or phrase."


@dataclass
class SyntheticConfig:
    seed: int = 0
    num_train: int = 2000
    num_val: int = 100
    num_test: int = 200
    image_size: int = 48  # the tiny preset reads 48 px images as 6x6 patches of 8 px
    with_sizes: bool = False  # shapes drawn small or large, and captions say so


@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    cell: int  # 0..8, row-major on the 3x3 grid
    size: str = "large"

    def phrase(self, with_size: bool) -> str:
        return f"{self.size + ' ' if with_size else ''}{self.color} {self.kind}"


def sample_scene(rng: random.Random, with_sizes: bool) -> list[Shape]:
    """1-3 shapes at distinct cells, sorted in reading order; no two identical (kind, colour) pairs."""
    n = rng.randint(1, 3)
    cells = sorted(rng.sample(range(GRID * GRID), n))
    pairs = rng.sample([(k, c) for k in SHAPES for c in COLORS], n)
    return [
        Shape(k, c, cell, rng.choice(("small", "large")) if with_sizes else "large")
        for (k, c), cell in zip(pairs, cells, strict=False)
    ]


def draw_scene(shapes: list[Shape], size: int, rng: random.Random) -> bytes:
    """PNG bytes of the scene: a light background with each shape centred (with jitter) in its cell."""
    bg = tuple(rng.randint(235, 255) for _ in range(3))
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    cell = size / GRID
    for s in shapes:
        row, col = divmod(s.cell, GRID)
        radius = cell * (0.40 if s.size == "large" else 0.25) * rng.uniform(0.9, 1.0)
        cx = (col + 0.5) * cell + rng.uniform(-0.06, 0.06) * cell
        cy = (row + 0.5) * cell + rng.uniform(-0.06, 0.06) * cell
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        fill = COLORS[s.color]
        if s.kind == "circle":
            draw.ellipse(box, fill=fill)
        elif s.kind == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _a(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def describe(shapes: list[Shape], with_sizes: bool) -> list[str]:
    """The canonical caption first, then differently worded references (same facts)."""
    placed = [
        f"{_a(s.phrase(with_sizes))} {'in the' if POSITIONS[s.cell] == 'center' else 'at the'} {POSITIONS[s.cell]}"
        for s in shapes
    ]
    plain = [_a(s.phrase(with_sizes)) for s in shapes]
    n = len(shapes)
    count = f"{NUMBER_WORDS[n]} shape{'s' if n > 1 else ''}"
    return [
        _join(placed),
        f"there is {_join(plain)}",
        f"{count}: {_join(placed[::-1])}",
        f"a picture of {_join(plain)} on a plain background",
        f"an image showing {count}, {_join(plain[::-1])}",
    ]


def human_answers(truth: str, rng: random.Random, distractors: list[str]) -> list[str]:
    """10 annotator answers: mostly the truth, sometimes a surface variant or a mistaken answer."""
    variants = {"2": "two", "3": "three", "1": "one", "yes": "yes", "no": "no"}
    answers = []
    for _ in range(10):
        r = rng.random()
        if r < 0.08 and distractors:
            answers.append(rng.choice(distractors))
        elif r < 0.16:
            answers.append(variants.get(truth, truth))
        else:
            answers.append(truth)
    return answers


def ask_questions(shapes: list[Shape], rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(question, answer, answer_type, question_type) for one colour, count, existence and position question."""
    qs = []
    s = rng.choice(shapes)
    if sum(x.kind == s.kind for x in shapes) == 1:  # "the circle" must name exactly one shape
        qs.append((f"What color is the {s.kind}?", s.color, "other", "what color is the"))
    else:
        qs.append((f"What color is the shape at the {POSITIONS[s.cell]}?", s.color, "other", "what color is the"))
    if rng.random() < 0.5:
        qs.append(("How many shapes are there?", str(len(shapes)), "number", "how many"))
    else:
        color = rng.choice([x.color for x in shapes] + list(COLORS))
        n = sum(x.color == color for x in shapes)
        qs.append((f"How many {color} shapes are there?", str(n), "number", "how many"))
    present = {(x.kind, x.color) for x in shapes}
    if rng.random() < 0.5:
        kind, color = rng.choice(sorted(present))
    else:
        kind, color = rng.choice(sorted({(k, c) for k in SHAPES for c in COLORS} - present))
    qs.append((f"Is there a {color} {kind}?", "yes" if (kind, color) in present else "no", "yes/no", "is there a"))
    t = rng.choice(shapes)
    qs.append((f"What shape is at the {POSITIONS[t.cell]}?", t.kind, "other", "what shape is"))
    return qs


def _distractors(answer_type: str, truth: str) -> list[str]:
    pool = {"yes/no": ["yes", "no"], "number": ["0", "1", "2", "3"]}.get(answer_type, list(COLORS) + list(SHAPES))
    return [a for a in pool if a != truth]


def generate_synthetic(cfg: SyntheticConfig) -> dict[str, list[Record]]:
    """All splits of the synthetic world. Scenes are independent draws, so splits never share an image."""
    rng = random.Random(cfg.seed)
    splits = {"train": cfg.num_train, "validation": cfg.num_val, "test": cfg.num_test}
    out: dict[str, list[Record]] = {}
    for split, n in splits.items():
        records = []
        for i in range(n):
            shapes = sample_scene(rng, cfg.with_sizes)
            png = draw_scene(shapes, cfg.image_size, rng)
            refs = describe(shapes, cfg.with_sizes)
            base = f"synthetic-{split}-{i:06d}"
            src = f"synthetic:seed={cfg.seed}:{split}:{i}"
            records.append(
                Record(
                    id=f"{base}-cap",
                    images=[png],
                    task="caption",
                    source=src,
                    references=refs,
                    messages=[
                        {"role": "user", "content": f"<image>\n{CAPTION_PROMPT}"},
                        {"role": "assistant", "content": refs[0]},
                    ],
                )
            )
            for j, (q, a, atype, qtype) in enumerate(ask_questions(shapes, rng)):
                records.append(
                    Record(
                        id=f"{base}-q{j}",
                        images=[png],
                        task="vqa",
                        source=src,
                        answers=human_answers(a, rng, _distractors(atype, a)),
                        answer_type=atype,
                        question_type=qtype,
                        messages=[
                            {"role": "user", "content": f"<image>\n{q}\n{SHORT_ANSWER}"},
                            {"role": "assistant", "content": a},
                        ],
                    )
                )
        out[split] = records
    return out
