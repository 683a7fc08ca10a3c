from edge.text import complete_sentences, split_sentences


def test_splits_on_terminal_punctuation_and_keeps_it() -> None:
    assert split_sentences("It was the best of times. It was the worst of times! Was it?") == [
        "It was the best of times.",
        "It was the worst of times!",
        "Was it?",
    ]


def test_abbreviations_and_decimals_do_not_split() -> None:
    assert split_sentences("Mr. Smith paid 3.5 euros. Dr. Who agreed.") == [
        "Mr. Smith paid 3.5 euros.",
        "Dr. Who agreed.",
    ]


def test_other_scripts() -> None:
    assert split_sentences("你好。我很好。") == ["你好。", "我很好。"]
    assert split_sentences("¿Dónde está? Aquí.") == ["¿Dónde está?", "Aquí."]
    assert split_sentences("क्या हाल है। ठीक है।") == ["क्या हाल है।", "ठीक है।"]


def test_unpunctuated_text_is_one_sentence_and_nothing_is_lost() -> None:
    text = "ever tried ever failed no matter"
    assert split_sentences(text) == [text]
    assert split_sentences("  ") == []


def test_only_sentences_followed_by_more_text_are_complete() -> None:
    assert complete_sentences("Hello there. How are") == (["Hello there."], "How are")
    assert complete_sentences("Hello there.") == ([], "Hello there.")
