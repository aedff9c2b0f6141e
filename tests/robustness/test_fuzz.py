"""Fuzzing: random malformed records thrown at every source reader (llava, messages, coco, vqav2, imagefolder,
hf local files) and at the eval prediction/reference parsers. The contract: a reader yields Candidates and
Rejections or raises a VitcliError, nothing else; every Candidate that passes check_text encodes into the
dataset's Arrow schema; a parser returns or raises a VitcliError. Examples are few and small (2 shared cores)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vitcli.data.sources.common import SourceSpec
from vitcli.data.templates import load_templates
from vitcli.data.validate import Candidate, Rejection, check_text
from vitcli.runtime.errors import VitcliError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
FEW = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)
hostile_lines = st.sampled_from(
    [
        "",
        "   ",
        "{",
        "[1, 2",
        "nul\x00l",
        "1" * 5000,
        "[" * 3000 + "]" * 3000,
        '{"a": "\\ud800"}',
        "NaN",
        '"just a string"',
        "[]",
        "{}",
        "null",
        "\ufeff{}",
    ]
)
texts = st.text(max_size=20) | st.sampled_from(["<image>\nQ", "<image><image>", "A", "", " ", "\ud800"])


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the well-typed value, sometimes any JSON value at all."""
    return st.one_of(strategy, strategy, json_values)


def rows_file(rows: st.SearchStrategy) -> st.SearchStrategy:
    """(suffix, bytes): a JSON list of rows, JSONL with hostile lines mixed in, or any top-level JSON."""
    as_json = st.lists(rows, max_size=5).map(lambda rs: (".json", json.dumps(rs).encode()))
    line = rows.map(json.dumps) | hostile_lines
    as_jsonl = st.lists(line, max_size=6).map(lambda ls: (".jsonl", "\n".join(ls).encode("utf-8", "surrogatepass")))
    anything = json_values.map(lambda v: (".json", json.dumps(v).encode()))
    raw = st.binary(max_size=40).map(lambda b: (st_choice_suffix(b), b))
    return st.one_of(as_json, as_json, as_jsonl, as_jsonl, anything, raw)


def st_choice_suffix(b: bytes) -> str:
    return ".jsonl" if len(b) % 2 else ".json"


def optional_dict(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


turn = optional_dict(
    **{"from": maybe(st.sampled_from(["human", "gpt", "system", "bot", "USER"])), "value": maybe(texts)}
)
image_ref = maybe(st.sampled_from(["img.png", "../escape.png", "/etc/hostname", "", "missing.jpg", "a\x00b"]))
llava_row = optional_dict(
    id=maybe(st.text(max_size=4)),
    image=image_ref,
    images=st.lists(image_ref, max_size=2),
    conversations=maybe(st.lists(turn, max_size=3)),
)
part = optional_dict(type=maybe(st.sampled_from(["text", "image", "image_url", "audio"])), text=maybe(texts))
message = optional_dict(
    role=maybe(st.sampled_from(["user", "assistant", "system", "human", "gpt", "tool"])),
    content=maybe(texts | st.lists(part, max_size=3)),
)
messages_row = optional_dict(
    id=maybe(st.text(max_size=4)),
    images=st.lists(image_ref, max_size=2),
    image=image_ref,
    messages=maybe(st.lists(message, max_size=3)),
)
ids = maybe(st.integers(0, 5))
coco_official = optional_dict(
    images=maybe(st.lists(optional_dict(id=ids, file_name=image_ref), max_size=4)),
    annotations=maybe(st.lists(optional_dict(image_id=ids, caption=maybe(texts)), max_size=4)),
)
sentence = optional_dict(raw=maybe(texts), tokens=maybe(st.lists(maybe(st.text(max_size=5)), max_size=3)))
coco_karpathy = optional_dict(
    images=maybe(
        st.lists(
            optional_dict(
                sentences=maybe(st.lists(sentence, max_size=2)),
                filename=image_ref,
                filepath=maybe(st.text(max_size=5)),
                cocoid=ids,
                split=maybe(st.sampled_from(["train", "val", "restval", "test", "weird split", "a/b"])),
            ),
            max_size=3,
        )
    )
)
question = optional_dict(question_id=ids, image_id=ids, question=maybe(texts))
vqa_questions = optional_dict(
    data_subtype=maybe(st.sampled_from(["val2014", "", "{x}"])),
    questions=maybe(st.lists(question, max_size=4)),
)
answer = maybe(optional_dict(answer=maybe(texts), answer_confidence=maybe(st.text(max_size=3))))
annotation = optional_dict(
    question_id=ids,
    answers=maybe(st.lists(answer, max_size=3)),
    multiple_choice_answer=maybe(texts),
    answer_type=maybe(texts),
    question_type=maybe(texts),
)
vqa_annotations = optional_dict(annotations=maybe(st.lists(annotation, max_size=4)))
meta_row = optional_dict(
    file_name=image_ref,
    caption=maybe(texts | st.lists(texts, max_size=2)),
    text=maybe(texts),
    question=maybe(texts),
    answer=maybe(texts),
    answers=json_values,
    messages=maybe(st.lists(message, max_size=2)),
    conversations=maybe(st.lists(turn, max_size=2)),
    answer_type=json_values,
    question_type=json_values,
    id=json_values,
)
csv_text = st.lists(st.text(alphabet=st.sampled_from('ab,"\n\r\x00 <image>'), max_size=15), max_size=4).map(
    lambda rows: "file_name,caption,question\n" + "\n".join(rows)
)


def drain(reader: Any, spec: SourceSpec) -> None:
    """Consume a reader as the pipeline does: check_text each Candidate and encode the kept ones to Arrow."""
    import pyarrow as pa

    from vitcli.data.records import record_features

    features = record_features()
    try:
        for item in reader(spec, load_templates(None)):
            assert isinstance(item, (Candidate, Rejection)), item
            if isinstance(item, Rejection):
                assert isinstance(item.reason, str) and ":" in item.reason
                continue
            assert isinstance(item.images, list) and all(isinstance(x, (str, bytes)) for x in item.images)
            if check_text(item.record, len(item.images)) is None:
                row = features.encode_example({**item.record.to_row(), "images": []})
                pa.Table.from_pylist([row], schema=features.arrow_schema)
    except VitcliError:
        pass


def write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


@FUZZ
@given(rows_file(llava_row))
def test_llava_reader(file):
    from vitcli.data.sources.llava import read_llava

    with tempfile.TemporaryDirectory() as d:
        drain(read_llava, SourceSpec("llava", str(write(Path(d), "rows" + file[0], file[1]))))


@FUZZ
@given(rows_file(messages_row))
def test_messages_reader(file):
    from vitcli.data.sources.messages import read_messages

    with tempfile.TemporaryDirectory() as d:
        drain(read_messages, SourceSpec("messages", str(write(Path(d), "chat" + file[0], file[1]))))


@FUZZ
@given(coco_official | coco_karpathy | json_values, st.booleans())
def test_coco_reader(doc, each_caption):
    from vitcli.data.sources.coco import read_coco

    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "captions_val.json", json.dumps(doc).encode())
        drain(read_coco, SourceSpec("coco", str(path), each_caption=each_caption))


@FUZZ
@given(
    vqa_questions | json_values,
    vqa_annotations | json_values,
    st.sampled_from([None, "{image_id}.jpg", "{nope}.jpg", "{image_id:q}", "{0}"]),
)
def test_vqav2_reader(questions, annotations, pattern):
    from vitcli.data.sources.vqav2 import read_vqav2

    with tempfile.TemporaryDirectory() as d:
        q = write(Path(d), "q_val.json", json.dumps(questions).encode())
        a = write(Path(d), "a_val.json", json.dumps(annotations).encode())
        drain(read_vqav2, SourceSpec("vqav2", str(q), annotations=str(a), image_pattern=pattern))


@FUZZ
@given(rows_file(meta_row) | csv_text.map(lambda t: (".csv", t.encode())), st.booleans())
def test_imagefolder_reader(file, in_split_folder):
    from vitcli.data.sources.imagefolder import read_imagefolder

    suffix, data = file
    with tempfile.TemporaryDirectory() as d:
        sub = "validation/" if in_split_folder else ""
        write(Path(d), f"{sub}metadata{'.csv' if suffix == '.csv' else '.jsonl'}", data)
        drain(read_imagefolder, SourceSpec("imagefolder", d))


@FEW
@given(
    st.lists(
        optional_dict(
            image=maybe(st.sampled_from(["img.png", "../x.png"])),
            caption=maybe(texts),
            question=maybe(texts),
            answers=maybe(st.lists(texts, max_size=2)),
            messages=maybe(st.lists(message, max_size=2)),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([".jsonl", ".csv"]),
)
@example(rows=[{"image": {"": {}, "0\x00": None}}], suffix=".jsonl")  # found by hypothesis: empty field names
@example(rows=[{"image": {"": None, "\x00": None}}], suffix=".jsonl")  # duplicate field names in pyarrow
def test_hf_local_file_reader(rows, suffix):
    import csv
    import io

    from vitcli.data.sources.hf import read_hf

    with tempfile.TemporaryDirectory() as d:
        if suffix == ".csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(["image", "caption", "question"])
            for r in rows:
                writer.writerow(
                    [
                        json.dumps(r.get(k)) if not isinstance(r.get(k), str) else r[k]
                        for k in ("image", "caption", "question")
                    ]
                )
            data = buf.getvalue().encode("utf-8", "surrogatepass")
        else:
            data = "\n".join(json.dumps(r) for r in rows).encode("utf-8", "surrogatepass")
        drain(read_hf, SourceSpec("hf", str(write(Path(d), "train" + suffix, data))))


# --- eval parsers ----------------------------------------------------------------------------------------------

pred_row = optional_dict(
    id=ids,
    prediction=maybe(texts),
    question_id=ids,
    answer=maybe(texts),
    text=maybe(texts),
    image_id=ids,
    caption=maybe(texts),
)
ref_row = optional_dict(
    id=ids,
    question_id=ids,
    pid=ids,
    answer=json_values,
    label=json_values,
    choices=maybe(st.lists(texts, max_size=4)),
    references=maybe(st.lists(texts, max_size=2)),
)


def parse(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except VitcliError:
        return None


@FUZZ
@given(rows_file(pred_row))
def test_prediction_parser(file):
    from vitcli.evaluation.predictions import read_predictions

    with tempfile.TemporaryDirectory() as d:
        parse(read_predictions, write(Path(d), "pred" + file[0], file[1]))


@FUZZ
@given(coco_official | rows_file(ref_row).map(lambda f: f) | json_values)
def test_caption_reference_parser(doc):
    from vitcli.evaluation.predictions import read_coco_captions

    data = doc[1] if isinstance(doc, tuple) else json.dumps(doc).encode()
    with tempfile.TemporaryDirectory() as d:
        parse(read_coco_captions, write(Path(d), "refs.json", data))


@FUZZ
@given(vqa_annotations | json_values, vqa_questions | json_values)
def test_vqa_reference_parser(annotations, questions):
    from vitcli.evaluation.predictions import read_vqa_annotations

    with tempfile.TemporaryDirectory() as d:
        a = write(Path(d), "a.json", json.dumps(annotations).encode())
        q = write(Path(d), "q.json", json.dumps(questions).encode())
        parse(read_vqa_annotations, a, q)


@FUZZ
@given(
    st.sampled_from(["vqa", "gqa", "multiple-choice", "pope"]),
    rows_file(pred_row),
    rows_file(ref_row) | (vqa_annotations | json_values).map(lambda v: (".json", json.dumps(v).encode())),
    st.booleans(),
    st.integers(0, 3),
)
def test_score_files_end_to_end(task, preds, refs, allow_missing, max_samples):
    """Parsing and scoring together (no model, no Java): whatever the files hold, a report or a VitcliError."""
    from vitcli.config import EvalConfig
    from vitcli.evaluation.score import score_files

    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "pred" + preds[0], preds[1])
        r = write(Path(d), "ref" + refs[0], refs[1])
        cfg = EvalConfig(
            task=task,
            predictions=str(p),
            references=str(r),
            annotations=str(r),
            allow_missing=allow_missing,
            max_samples=max_samples,
        )
        report = parse(score_files, cfg)
        if report is not None:
            json.dumps(report.to_json())  # the report the CLI prints is plain JSON


@pytest.mark.parametrize("line", ["1" * 5000, "[" * 5000 + "]" * 5000, '{"id": 1, "prediction": ' + "9" * 5000 + "}"])
def test_hostile_json_is_a_data_error_everywhere(tmp_path, line):
    """Integers beyond Python's 4300-digit limit and deep nesting raise ValueError/RecursionError in json;
    every JSON entry point turns them into a DataError (or a rejected row)."""
    from vitcli.data.sources.common import iter_json_rows
    from vitcli.evaluation.predictions import read_predictions
    from vitcli.runtime.errors import DataError
    from vitcli.runtime.io import iter_jsonl, read_json

    for name in ("x.json", "x.jsonl"):
        (tmp_path / name).write_text(line + "\n")
        for fn in (read_json, lambda p: list(iter_jsonl(p)), read_predictions):
            with pytest.raises(DataError):
                fn(tmp_path / name)
    rows = list(iter_json_rows(tmp_path / "x.jsonl"))
    assert len(rows) == 1 and isinstance(rows[0], Rejection)


def test_overlong_jsonl_line_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    from vitcli.data.sources.common import iter_jsonl_rows
    from vitcli.runtime import io
    from vitcli.runtime.errors import DataError

    monkeypatch.setattr(io, "MAX_LINE_BYTES", 100)
    p = tmp_path / "rows.jsonl"
    p.write_text('{"a": 1}\n' + '{"b": "' + "x" * 1000 + '"}\n{"c": 3}\n')
    items = list(iter_jsonl_rows(p))
    assert [type(i).__name__ for i in items] == ["tuple", "Rejection", "tuple"]
    assert "longer than" in items[1].reason and items[2] == (3, {"c": 3})
    with pytest.raises(DataError, match="line 2 .* longer than 100"):
        list(io.iter_jsonl(p))
