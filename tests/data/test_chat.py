"""Answer-only labels: only assistant tokens (and their end-of-turn token) carry labels, in every turn."""

from __future__ import annotations

from vitcli.data.chat import IGNORE_INDEX, build_prompt, encode_conversation
from vitcli.modeling.compose import IM_END, build_word_tokenizer

CONV = [
    {"role": "user", "content": "<image>\nWhat color is the circle?"},
    {"role": "assistant", "content": "red"},
    {"role": "user", "content": "How many shapes are there?"},
    {"role": "assistant", "content": "two shapes"},
]


def _tokenizer():
    return build_word_tokenizer(m["content"] for m in CONV)


def _labelled(tok, enc):
    pairs = zip(enc.input_ids, enc.labels, strict=True)
    return [tok.convert_ids_to_tokens(t) for t, lab in pairs if lab != IGNORE_INDEX]


def test_only_assistant_tokens_are_labelled_multi_turn():
    tok = _tokenizer()
    enc = encode_conversation(tok, CONV, num_image_tokens=4)
    assert len(enc.input_ids) == len(enc.labels)
    assert _labelled(tok, enc) == ["red", IM_END, "two", "shapes", IM_END]
    # labels equal the ids wherever they are set
    assert all(lab == t for t, lab in zip(enc.input_ids, enc.labels, strict=False) if lab != IGNORE_INDEX)


def test_image_token_expands_and_is_never_labelled():
    tok = _tokenizer()
    image_id = tok.convert_tokens_to_ids("<image>")
    enc = encode_conversation(tok, CONV, num_image_tokens=9)
    positions = [i for i, t in enumerate(enc.input_ids) if t == image_id]
    assert len(positions) == 9 and positions == list(range(positions[0], positions[0] + 9))
    assert all(enc.labels[i] == IGNORE_INDEX for i in positions)


def test_single_turn_and_prompt_agree_with_training_text():
    tok = _tokenizer()
    prompt = build_prompt(tok, "What color is the circle?")
    full = tok.apply_chat_template(CONV[:2], tokenize=False)
    assert full.startswith(prompt) and full[len(prompt) :].startswith("red")
    enc = encode_conversation(tok, CONV[:2], num_image_tokens=1)
    assert _labelled(tok, enc) == ["red", IM_END]


def test_user_text_identical_to_answer_is_not_labelled():
    """Labels come from turn positions, not from string matching: 'red' in the question stays unlabelled."""
    tok = _tokenizer()
    conv = [{"role": "user", "content": "<image>\nred"}, {"role": "assistant", "content": "red"}]
    enc = encode_conversation(tok, conv, num_image_tokens=1)
    red = tok.convert_tokens_to_ids("red")
    red_positions = [i for i, t in enumerate(enc.input_ids) if t == red]
    assert len(red_positions) == 2
    assert enc.labels[red_positions[0]] == IGNORE_INDEX and enc.labels[red_positions[1]] == red
