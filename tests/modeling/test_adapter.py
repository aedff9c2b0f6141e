"""The family adapter's pieces against hand-worked cases: structured content, label alignment across placeholder
expansion, string-only templates taking structured content, and templates that would lose answers (refused)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from vitcli.modeling.adapter import FamilyAdapter, Sample, to_structured, user_turn
from vitcli.modeling.labels import IGNORE_INDEX as X
from vitcli.modeling.labels import align_labels
from vitcli.runtime.errors import DataError, ModelError

STRING_ONLY_CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAVA = SimpleNamespace(model_type="llava")


def test_string_content_becomes_structured():
    msgs = [
        {"role": "user", "content": "<image>\nWhat is it?"},
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": "Compare <image> with\n<image>"},
    ]
    assert to_structured(msgs) == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image"},
                {"type": "text", "text": "with"},
                {"type": "image"},
            ],
        },
    ]


def test_labels_follow_answers_across_placeholder_expansion():
    # text: [bos, IMG, q, q, SEP, a1, a2, EOT]; the processor expands IMG (7) into three 7s
    text_ids = [1, 7, 20, 21, 3, 30, 31, 4]
    labels = [X, X, X, X, X, 30, 31, 4]
    model_ids = [1, 7, 7, 7, 20, 21, 3, 30, 31, 4]
    assert align_labels(text_ids, labels, model_ids) == [X] * 7 + [30, 31, 4]


def test_labels_before_an_image_are_aligned_too():
    # an interleaved conversation: answer 40 comes before the second image (7 -> 7, 7)
    text_ids = [7, 20, 40, 5, 7, 21, 41]
    labels = [X, X, 40, X, X, X, 41]
    model_ids = [7, 7, 20, 40, 5, 7, 7, 21, 41]
    assert align_labels(text_ids, labels, model_ids) == [X, X, X, 40, X, X, X, X, 41]


def test_answer_text_changed_by_the_processor_is_refused():
    with pytest.raises(DataError, match="1 of 2 answer tokens could not be found"):
        align_labels([7, 20, 40, 5, 41], [X, X, 40, X, 41], [7, 7, 20, 99, 5, 41])


@pytest.fixture
def word_processor():
    from vitcli.modeling.compose import build_processor, build_word_tokenizer

    tok = build_word_tokenizer(["what colour is it red blue the a"])
    return build_processor(tok, 32, 8)


def test_string_only_template_takes_structured_content(word_processor):
    from vitcli.modeling.compose import CHATML_TEMPLATE

    word_processor.chat_template = word_processor.tokenizer.chat_template = STRING_ONLY_CHATML
    adapter = FamilyAdapter.for_model(LLAVA, word_processor)
    expected = "<|im_start|>user\n<image>\nwhat colour<|im_end|>\n<|im_start|>assistant\n"
    assert adapter.prompt_text("what colour") == expected
    assert (
        word_processor.apply_chat_template(user_turn("what colour"), add_generation_prompt=True, tokenize=False)
        == expected
    )  # the saved template now takes it too
    word_processor.chat_template = CHATML_TEMPLATE  # vitcli's own renders both forms without help
    string_form = word_processor.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat colour"}], add_generation_prompt=True, tokenize=False
    )
    assert string_form == expected


def test_template_that_drops_answers_is_counted_and_refused(word_processor):
    user_only = (
        "{% for m in messages %}{% if m['role'] == 'user' %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %} A:{% endif %}"
    )
    word_processor.chat_template = word_processor.tokenizer.chat_template = user_only
    with pytest.raises(ModelError, match="drops text or images"):
        FamilyAdapter.for_model(LLAVA, word_processor)


def test_empty_answer_span_is_a_counted_problem(word_processor):
    adapter = FamilyAdapter.for_model(LLAVA, word_processor)
    ok = [{"role": "user", "content": "<image>\nwhat colour"}, {"role": "assistant", "content": "red"}]
    empty = [{"role": "user", "content": "<image>\nwhat colour"}, {"role": "assistant", "content": "  "}]
    two = [{"role": "user", "content": "<image>\n<image>\nwhat colour"}, {"role": "assistant", "content": "red"}]
    assert adapter.problem(ok, "vqa") is None
    assert adapter.problem(empty, "vqa") == "no answer tokens to learn (empty labels)"
    assert "takes one image per sample" in adapter.problem(two, "vqa")


def test_training_prompt_ids_equal_generation_ids(word_processor):
    adapter = FamilyAdapter.for_model(LLAVA, word_processor)
    image = Image.new("RGB", (40, 30), "red")
    msgs = [{"role": "user", "content": "<image>\nwhat colour is it"}, {"role": "assistant", "content": "red"}]
    batch = adapter.encode_training([Sample(to_structured(msgs), [image], "vqa")])
    labels = batch["labels"][0].tolist()
    first = next(i for i, y in enumerate(labels) if y != X)
    assert (
        batch["input_ids"][0, :first].tolist()
        == adapter.encode_prompts([image], ["what colour is it"])["input_ids"][0].tolist()
    )
    tok = word_processor.tokenizer
    assert tok.convert_ids_to_tokens([y for y in labels if y != X]) == ["red", "<|im_end|>"]
