"""An offline synthetic world: procedurally drawn scenes of coloured shapes with known ground truth.
Each scene yields one caption record (canonical caption + differently worded references) and VQA records
(colour / count / existence / position) with 10 human-style answers, as in VQA v2. Same seed, same bytes.
On request (`tasks`) also POPE object-existence pairs, lettered multiple-choice questions and GQA-style
relational questions; each of those draws from its own seeded stream, so the default rows never change."""

from __future__ import annotations

import io
import random
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from vitcli.data.records import Record
from vitcli.data.templates import choice_prompt
from vitcli.runtime.errors import UsageError

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
TASK_KINDS = ("caption", "vqa", "pope", "multiple-choice", "gqa")
DEFAULT_TASKS = ("caption", "vqa")
POPE_SAMPLING = ("random", "popular", "adversarial")  # one per scene, in turn


@dataclass
class SyntheticConfig:
    seed: int = 0
    num_train: int = 2000
    num_val: int = 100
    num_test: int = 200
    image_size: int = 48  # the tiny preset reads 48 px images as 6x6 patches of 8 px
    with_sizes: bool = False  # shapes drawn small or large, and captions say so
    tasks: tuple[str, ...] = field(default_factory=lambda: DEFAULT_TASKS)  # which of TASK_KINDS to emit


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


def check_tasks(tasks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The requested task kinds, in TASK_KINDS order; an unknown or empty list is a UsageError."""
    unknown = [t for t in tasks if t not in TASK_KINDS]
    if unknown or not tasks:
        raise UsageError(
            f"unknown synthetic task(s): {', '.join(unknown) or '(none given)'}",
            f"--tasks takes a comma-separated list of: {', '.join(TASK_KINDS)}",
        )
    return tuple(t for t in TASK_KINDS if t in tasks)


def scene_records(shapes: list[Shape], png: bytes, base: str, src: str, rng: random.Random, with_sizes: bool):
    """The caption record and the four VQA records of one scene (the default world; draws from `rng`)."""
    refs = describe(shapes, with_sizes)
    records = [
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
    ]
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
    return records


def generate_synthetic(cfg: SyntheticConfig) -> dict[str, list[Record]]:
    """All splits of the synthetic world. Scenes are independent draws, so splits never share an image."""
    tasks = check_tasks(cfg.tasks)
    rng = random.Random(cfg.seed)
    splits = {"train": cfg.num_train, "validation": cfg.num_val, "test": cfg.num_test}
    out: dict[str, list[Record]] = {}
    for split, n in splits.items():
        scenes = []
        for i in range(n):  # the default stream: same calls in the same order whatever `tasks` holds
            shapes = sample_scene(rng, cfg.with_sizes)
            png = draw_scene(shapes, cfg.image_size, rng)
            base, src = f"synthetic-{split}-{i:06d}", f"synthetic:seed={cfg.seed}:{split}:{i}"
            scenes.append((shapes, png, base, src, scene_records(shapes, png, base, src, rng, cfg.with_sizes)))
        stats = ObjectStats.of([shapes for shapes, *_ in scenes])
        records: list[Record] = []
        for i, (shapes, png, base, src, default) in enumerate(scenes):
            records.extend(r for r in default if r.task in tasks)
            for task in tasks:
                if task in EXTRA_TASKS:
                    extra_rng = random.Random(f"{cfg.seed}:{split}:{i}:{task}")
                    made = EXTRA_TASKS[task](shapes, extra_rng, stats, i)
                    records.extend(_record(task, png, base, src, j, *q) for j, q in enumerate(made))
        out[split] = records
    return out


Question = tuple[str, str, str, str]  # (user turn, answer, answer_type, question_type)
OBJECTS = tuple((color, kind) for kind in SHAPES for color in COLORS)  # POPE's object vocabulary


@dataclass
class ObjectStats:
    """Object frequency and co-occurrence over one split's scenes (POPE's 'popular' and 'adversarial')."""

    freq: Counter = field(default_factory=Counter)
    cooc: Counter = field(default_factory=Counter)  # (object, object) -> scenes holding both

    @classmethod
    def of(cls, scenes: list[list[Shape]]) -> ObjectStats:
        stats = cls()
        for shapes in scenes:
            objs = sorted({(s.color, s.kind) for s in shapes})
            stats.freq.update(objs)
            stats.cooc.update((a, b) for a in objs for b in objs if a != b)
        return stats


def _record(task: str, png: bytes, base: str, src: str, j: int, user: str, answer: str, atype: str, qtype: str):
    return Record(
        id=f"{base}-{task.replace('multiple-choice', 'mc')}{j}",
        images=[png],
        task=task,
        source=src,
        answers=[answer],
        answer_type=atype,
        question_type=qtype,
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
    )


def pope_questions(shapes: list[Shape], rng: random.Random, stats: ObjectStats, index: int) -> list[Question]:
    """One present and one absent object, "Is there a <colour> <shape> in the image?" (POPE's question). The
    negative is drawn by the scene's setting, in turn: random (any absent object), popular (among the 3 most
    frequent absent objects of the split) or adversarial (the absent objects that co-occur most with the present
    ones, among near misses that share a colour or a shape with one: the world's co-occurrence alone is uniform)."""
    setting = POPE_SAMPLING[index % len(POPE_SAMPLING)]
    present = sorted({(s.color, s.kind) for s in shapes})
    absent = [o for o in OBJECTS if o not in present]
    if setting == "random":
        negative = rng.choice(absent)
    elif setting == "popular":
        negative = rng.choice(sorted(absent, key=lambda o: (-stats.freq[o], o))[:3])
    else:
        near = [o for o in absent if any(o[0] == p[0] or o[1] == p[1] for p in present)]
        score = {o: sum(stats.cooc[(o, p)] for p in present) for o in near}
        negative = rng.choice(sorted(o for o in near if score[o] == max(score.values())))
    asked = [(rng.choice(present), "yes"), (negative, "no")]
    return [
        (f"<image>\nIs there {_a(f'{c} {k}')} in the image?\n{SHORT_ANSWER}", answer, "yes/no", f"pope-{setting}")
        for (c, k), answer in asked
    ]


def choice_questions(shapes: list[Shape], rng: random.Random, stats: ObjectStats, index: int) -> list[Question]:
    """One lettered multiple-choice question (colour, shape or count) in LLaVA's ScienceQA layout; answer = letter."""
    kind = rng.choice(("color", "shape", "count"))
    if kind == "color":
        s = rng.choice(shapes)
        unique = sum(x.kind == s.kind for x in shapes) == 1
        q = f"What color is the {s.kind}?" if unique else f"What color is the shape at the {POSITIONS[s.cell]}?"
        options = [s.color, *rng.sample([c for c in COLORS if c != s.color], 3)]
        rng.shuffle(options)
        truth = s.color
    elif kind == "shape":
        t = rng.choice(shapes)
        q, options, truth = f"What shape is at the {POSITIONS[t.cell]}?", list(SHAPES), t.kind
        rng.shuffle(options)
    else:
        q, options, truth = "How many shapes are there?", ["1", "2", "3", "4"], str(len(shapes))
    letter = chr(ord("A") + options.index(truth))
    return [(choice_prompt(q, options), letter, "other", kind)]


def _relation(a: Shape, b: Shape) -> str:
    """Where b is relative to a: left of / right of when their columns differ, else above / below."""
    (ra, ca), (rb, cb) = divmod(a.cell, GRID), divmod(b.cell, GRID)
    if ca != cb:
        return "to the left of" if cb < ca else "to the right of"
    return "above" if rb < ra else "below"


def _holds(rel: str, a: Shape, x: Shape) -> bool:
    """Whether x is `rel` a in the plain sense (any row for left/right, any column for above/below)."""
    (ra, ca), (rx, cx) = divmod(a.cell, GRID), divmod(x.cell, GRID)
    return {"to the left of": cx < ca, "to the right of": cx > ca, "above": rx < ra, "below": rx > ra}[rel]


OPPOSITE = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
}


def gqa_questions(shapes: list[Shape], rng: random.Random, stats: ObjectStats, index: int) -> list[Question]:
    """One GQA-style relational question for scenes of 2+ shapes: query ("What color is the shape <rel> the
    <object>?", when exactly one shape stands there) or verify ("Is the <object> <rel> the <object>?")."""
    if len(shapes) < 2:
        return []
    a, b = rng.sample(shapes, 2)
    rel = _relation(a, b)
    there = [x for x in shapes if x is not a and _holds(rel, a, x)]
    if len(there) == 1 and rng.random() < 0.5:
        q = f"What color is the shape {rel} the {a.color} {a.kind}?"
        return [(f"<image>\n{q}\n{SHORT_ANSWER}", b.color, "other", "query")]
    asked = rel if rng.random() < 0.5 else OPPOSITE[rel]
    q = f"Is the {b.color} {b.kind} {asked} the {a.color} {a.kind}?"
    return [(f"<image>\n{q}\n{SHORT_ANSWER}", "yes" if asked == rel else "no", "yes/no", "verify")]


EXTRA_TASKS = {"pope": pope_questions, "multiple-choice": choice_questions, "gqa": gqa_questions}
