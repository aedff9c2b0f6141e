"""vitcli's own tokenizer for models trained from scratch: a word-level fast tokenizer built from dataset text, with
ChatML specials, the <image> placeholder and a ChatML template that takes string and structured content alike.
Used by LLaVA compositions (compose.py) and encoder-decoder captioners (encoder_decoder.py)."""

from __future__ import annotations

from collections.abc import Iterable

from vitcli.modeling.families import IMAGE_TOKEN

PAD, UNK, IM_START, IM_END = "<pad>", "<unk>", "<|im_start|>", "<|im_end|>"
# ChatML, the template used whenever the LM brings none of its own. It renders string content ("<image>\nWhat...")
# and HF structured content ([{type: image}, {type: text}]) to the same text, so HF and vLLM chat calls work on exports.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_word_tokenizer(texts: Iterable[str]):
    """A word-level fast tokenizer over the words in `texts`, with ChatML specials and the <image> token. Each
    distinct text is split once (datasets repeat their questions and answers many times)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Whitespace()
    seen = {w for t in set(texts) for w, _ in split.pre_tokenize_str(t.replace(IMAGE_TOKEN, " "))}
    words = ["system", "user", "assistant"] + sorted(seen)
    specials = [PAD, UNK, IM_START, IM_END, IMAGE_TOKEN]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = split
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies punctuation
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        eos_token=IM_END,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
    tok.add_special_tokens({"additional_special_tokens": [IM_START, IM_END, IMAGE_TOKEN]})
    tok.chat_template = CHATML_TEMPLATE
    tok.padding_side = "left"
    return tok
