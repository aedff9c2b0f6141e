"""The synthetic world's optional tasks (POPE, multiple-choice, GQA-style): answers checked against the scene as the
canonical caption states it (parsed here, independently of the generator), and the default rows left unchanged."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from vitcli.data.sources.synthetic import POSITIONS, SyntheticConfig, generate_synthetic
from vitcli.data.templates import CHOICE_SUFFIX, parse_choices

ALL = ("caption", "vqa", "pope", "multiple-choice", "gqa")


def scene_of(caption: str) -> dict[tuple[str, str], str]:
    """(colour, shape) -> position, read back from the canonical caption ("a red circle at the top left and ...")."""
    out = {}
    for part in re.split(r", | and ", caption):
        m = re.fullmatch(r"an? (\w+) (\w+) (?:at|in) the (.+)", part)
        assert m, part
        out[(m.group(1), m.group(2))] = m.group(3)
    return out


def rc(position: str) -> tuple[int, int]:
    return divmod(POSITIONS.index(position), 3)


@pytest.fixture(scope="module")
def world() -> dict[str, list]:
    return generate_synthetic(SyntheticConfig(seed=5, num_train=90, num_val=0, num_test=6, tasks=ALL))


def by_scene(records: list) -> dict[str, list]:
    scenes: dict[str, list] = {}
    for r in records:
        scenes.setdefault(r.source, []).append(r)
    return scenes


def test_default_rows_do_not_change(world: dict[str, list]) -> None:
    plain = generate_synthetic(SyntheticConfig(seed=5, num_train=90, num_val=0, num_test=6))
    for split in ("train", "test"):
        kept = [r for r in world[split] if r.task in ("caption", "vqa")]
        assert [r.to_row() for r in kept] == [r.to_row() for r in plain[split]]
    only = generate_synthetic(SyntheticConfig(seed=5, num_train=90, num_val=0, num_test=6, tasks=("pope",)))
    assert [r.to_row() for r in only["train"]] == [r.to_row() for r in world["train"] if r.task == "pope"]


def test_pope_answers_and_sampling(world: dict[str, list]) -> None:
    scenes = by_scene(world["train"])
    freq = Counter(o for rs in scenes.values() for o in scene_of(rs[0].messages[1]["content"]))
    settings = Counter()
    for i, rs in enumerate(scenes.values()):
        truth = scene_of(rs[0].messages[1]["content"])
        pope = [r for r in rs if r.task == "pope"]
        assert [r.answers for r in pope] == [["yes"], ["no"]]
        for r in pope:
            m = re.match(r"<image>\nIs there an? (\w+) (\w+) in the image\?\n", r.messages[0]["content"])
            assert m, r.messages[0]["content"]
            obj = (m.group(1), m.group(2))
            assert (obj in truth) == (r.answers[0] == "yes") == (r.messages[1]["content"] == "yes")
        setting = pope[1].question_type.removeprefix("pope-")
        assert setting == ("random", "popular", "adversarial")[i % 3]
        settings[setting] += 1
        neg = re.search(r"Is there an? (\w+) (\w+)", pope[1].messages[0]["content"]).groups()
        if setting == "adversarial":  # a near miss: shares a colour or a shape with an object in the image
            assert any(neg[0] == c or neg[1] == k for c, k in truth)
        if setting == "popular":  # among the three most frequent absent objects
            absent = sorted((o for o in freq if o not in truth), key=lambda o: (-freq[o], o))
            assert neg in absent[:3]
    assert settings == {"random": 30, "popular": 30, "adversarial": 30}


def test_multiple_choice_letters_match_the_scene(world: dict[str, list]) -> None:
    kinds = Counter()
    for rs in by_scene(world["train"]).values():
        truth = scene_of(rs[0].messages[1]["content"])
        (mc,) = [r for r in rs if r.task == "multiple-choice"]
        prompt, letter = mc.messages[0]["content"], mc.messages[1]["content"]
        assert prompt.endswith(CHOICE_SUFFIX) and mc.answers == [letter]
        options = parse_choices(prompt)
        chosen = options[ord(letter) - ord("A")]
        question = prompt.split("\n")[1]
        kinds[mc.question_type] += 1
        if question == "How many shapes are there?":
            assert chosen == str(len(truth))
        elif m := re.fullmatch(r"What shape is at the (.+)\?", question):
            assert [k for (c, k), p in truth.items() if p == m.group(1)] == [chosen]
        elif m := re.fullmatch(r"What color is the shape at the (.+)\?", question):
            assert [c for (c, k), p in truth.items() if p == m.group(1)] == [chosen]
        else:
            kind = re.fullmatch(r"What color is the (\w+)\?", question).group(1)
            assert [c for (c, k) in truth if k == kind] == [chosen]
        assert len(set(options)) == len(options)
    assert set(kinds) == {"color", "shape", "count"}


def test_gqa_relations_match_the_scene(world: dict[str, list]) -> None:
    seen = Counter()
    for rs in by_scene(world["train"]).values():
        truth = scene_of(rs[0].messages[1]["content"])
        gqa = [r for r in rs if r.task == "gqa"]
        assert len(gqa) == (len(truth) > 1)
        for r in gqa:
            q, answer = r.messages[0]["content"].split("\n")[1], r.messages[1]["content"]
            seen[(r.question_type, answer if r.question_type == "verify" else "color")] += 1
            if m := re.fullmatch(
                r"Is the (\w+) (\w+) (to the left of|to the right of|above|below) the (\w+) (\w+)\?", q
            ):
                (rb, cb), (ra, ca) = rc(truth[m.group(1), m.group(2)]), rc(truth[m.group(4), m.group(5)])
                holds = {"to the left of": cb < ca, "to the right of": cb > ca, "above": rb < ra, "below": rb > ra}
                assert answer == ("yes" if holds[m.group(3)] else "no"), (q, truth)
            else:
                m = re.fullmatch(
                    r"What color is the shape (to the left of|to the right of|above|below) the (\w+) (\w+)\?", q
                )
                ra, ca = rc(truth[m.group(2), m.group(3)])
                there = [
                    c
                    for (c, k), p in truth.items()
                    if {
                        "to the left of": rc(p)[1] < ca,
                        "to the right of": rc(p)[1] > ca,
                        "above": rc(p)[0] < ra,
                        "below": rc(p)[0] > ra,
                    }[m.group(1)]
                ]
                assert there == [answer], (q, truth)
    assert seen[("verify", "yes")] and seen[("verify", "no")] and seen[("query", "color")]


def test_cli_tasks_option(tmp_path) -> None:
    from vitcli.cli.app import app
    from vitcli.data.build import load_built_dataset

    runner = CliRunner()
    args = ["build-dataset", "synthetic", "--num-train", "3", "--num-val", "1", "--num-test", "3"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "d"), "--tasks", "pope,multiple-choice"])
    assert r.exit_code == 0, r.output
    dd = load_built_dataset(tmp_path / "d")
    assert Counter(dd["test"]["task"]) == {"pope": 6, "multiple-choice": 3}
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "e"), "--tasks", "pope,nope"])
    assert bad.exit_code == 2 and "nope" in bad.output and "Hint:" in bad.output
    assert not (tmp_path / "e").exists()
