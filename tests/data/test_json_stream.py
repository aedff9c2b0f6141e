"""A top-level JSON array is read element by element (llava_v1_5_mix665k.json is ~1 GB): the same values as
json.load for any chunk size, errors that name the element and line, memory bounded by the chunk."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from vitcli.data.sources.common import iter_json_array, iter_json_rows
from vitcli.runtime.errors import DataError


def random_value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([0, 17, -2.5e10, 123456789012, True, False, None, "", 'q"uote\\', "日本語", "a\nb"])
    if r < 0.6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i} ": random_value(rng, depth + 1) for i in range(rng.randrange(4))}


@pytest.mark.parametrize("indent", [None, 2])
def test_equals_json_load_for_any_chunk_size(tmp_path, indent):
    rng = random.Random(indent or 0)
    data = [random_value(rng) for _ in range(300)]
    path = tmp_path / "a.json"
    path.write_text("\ufeff\n " + json.dumps(data, indent=indent, ensure_ascii=False) + "\n\n", encoding="utf-8")
    for chunk in (1, 2, 7, 100, 1 << 20):  # elements and numbers cut at every boundary
        got = list(iter_json_array(path, chunk))
        assert [i for i, _ in got] == list(range(1, 301)) and [v for _, v in got] == data


@pytest.mark.parametrize(
    "text, what",
    [
        ("[1, 2", "expected ',' or ']' after element 2"),
        ("[1 2]", "expected ',' or ']' after element 1"),
        ('[{"a": 1},\n {"a": }]', r"element 2 is not valid JSON \(Expecting value\) \(line 2\)"),
        ("[1,]", "element 2 is not valid JSON"),
        ("[1]\n[2]", r"extra data after the closing '\]' \(line 2\)"),
    ],
)
def test_invalid_json_names_the_element_and_line(tmp_path, text, what):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=what):
        list(iter_json_rows(path))


def test_rows_of_a_json_array_and_of_an_object_still_read(tmp_path):
    (tmp_path / "a.json").write_text('[{"id": 1}, {"id": 2}]')
    (tmp_path / "o.json").write_text('{"rows": [{"id": 3}]}')
    (tmp_path / "e.json").write_text("[ ]")
    assert list(iter_json_rows(tmp_path / "a.json")) == [(1, {"id": 1}), (2, {"id": 2})]
    assert list(iter_json_rows(tmp_path / "o.json", "rows")) == [(1, {"id": 3})]
    assert list(iter_json_rows(tmp_path / "e.json")) == []


def test_memory_stays_bounded_by_the_chunk(tmp_path):
    row = {
        "id": "x" * 20,
        "image": "coco/train2017/000000000001.jpg",
        "conversations": [{"from": "human", "value": "q" * 200}],
    }
    path = tmp_path / "big.json"
    with path.open("w") as f:
        f.write("[" + ",\n".join(json.dumps({**row, "id": f"r{i}"}) for i in range(40_000)) + "]")
    size = path.stat().st_size
    assert size > 10_000_000
    tracemalloc.start()
    n = sum(1 for _ in iter_json_array(path, 1 << 16))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 40_000 and peak < size / 10  # one 64 KiB chunk + an element; json.load holds several times the file
