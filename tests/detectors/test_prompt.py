"""Prompt parsing and the token -> class map, with the tiny model's real WordPiece tokenizer."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from lang_sam_tracker.detectors.prompt import Prompt, class_token_map, normalise_prompt, parse_prompt, tokenize_prompt


@pytest.mark.parametrize(
    "text, classes",
    [
        ("car", ("car",)),
        ("car . person", ("car", "person")),
        ("Car. Person.", ("car", "person")),
        ("  car  ..  person .  ", ("car", "person")),
        ("car . Car . person . car.", ("car", "person")),
        ("Traffic   Light. dog", ("traffic light", "dog")),
        ("person, car", ("person", "car")),  # what people type
        ("person; car;dog", ("person", "car", "dog")),
        ("Person, car . person;", ("person", "car")),
    ],
)
def test_parse_prompt(text, classes):
    prompt = parse_prompt(text)
    assert prompt.classes == classes
    assert prompt.caption == " . ".join(classes) + " ."


@pytest.mark.parametrize("text", ["", "   ", " . .. ."])
def test_prompt_without_classes_is_an_error(text):
    with pytest.raises(ValueError, match="names no class"):
        parse_prompt(text)


def test_class_spans_point_at_the_phrases():
    prompt = parse_prompt("red square . ball")
    assert [prompt.caption[a:b] for a, b in prompt.class_spans()] == ["red square", "ball"]


@pytest.fixture(scope="module")
def tokenizer(tiny_gdino_hf):
    return AutoTokenizer.from_pretrained(tiny_gdino_hf)


@pytest.mark.parametrize("word", ["car", "person", "dog", "cat", "truck", "bus", "bicycle", "ball", "red", "square", "circle", "box"])
def test_prompt_words_are_real_tokens(tokenizer, word):
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    assert ids == [tokenizer.convert_tokens_to_ids(word)]
    assert tokenizer.unk_token_id not in ids


def test_unlisted_words_split_into_wordpieces_not_unk(tokenizer):
    ids = tokenizer("zebra", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1 and tokenizer.unk_token_id not in ids


def test_token_map_assigns_every_phrase_token_and_nothing_else(tokenizer):
    prompt = parse_prompt("car . traffic light . zebra")
    input_ids, token_map = tokenize_prompt(tokenizer, prompt)
    tokens = tokenizer.convert_ids_to_tokens(input_ids)
    assert token_map.shape == (3, len(tokens))
    assert [tokens[t] for t in token_map[0].nonzero()[0]] == ["car"]
    assert [tokens[t] for t in token_map[1].nonzero()[0]] == ["traffic", "light"]
    assert "".join(tokens[t] for t in token_map[2].nonzero()[0]).replace("##", "") == "zebra"
    assert (token_map.sum(axis=0) <= 1).all(), "a token belongs to at most one class"
    for t, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]", "."):
            assert not token_map[:, t].any(), f"{token} must not name a class"


def test_token_map_from_offsets_ignores_special_tokens():
    prompt = Prompt(("dog",))  # caption "dog ."
    offsets = [(0, 0), (0, 3), (4, 5), (0, 0)]  # [CLS] dog . [SEP]
    assert class_token_map(prompt, offsets).tolist() == [[False, True, False, False]]


def test_slow_tokenizer_is_refused(tiny_gdino_hf):
    try:  # transformers 5: BertTokenizer is the fast one, the pure-Python one is BertTokenizerLegacy
        from transformers import BertTokenizerLegacy as SlowBertTokenizer
    except ImportError:
        from transformers import BertTokenizer as SlowBertTokenizer

    slow = SlowBertTokenizer.from_pretrained(tiny_gdino_hf)
    assert not slow.is_fast
    with pytest.raises(ValueError, match="offsets"):
        tokenize_prompt(slow, parse_prompt("car"))


def test_one_prompt_however_it_is_spelled_is_one_key():
    from lang_sam_tracker.results.keys import key_digest, resume_key

    spellings = ["person . car", "person. car", "Person, car", "person;car.", "  person .   car "]
    assert {normalise_prompt(s) for s in spellings} == {"person . car"}
    assert len({resume_key("clip.mp4", s) for s in spellings}) == 1
    assert len({key_digest("clip.mp4", s) for s in spellings}) == 1
    assert key_digest("clip.mp4", "dog") != key_digest("clip.mp4", "person . car")
    assert normalise_prompt(" . ") == "."  # names no class: left for the start-up check to refuse
