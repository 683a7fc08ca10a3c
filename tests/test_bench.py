"""`edge bench` building blocks: recording layouts, the MT stand-in, the report table."""

from pathlib import Path

import numpy as np
import pytest

from edge import bench
from edge.mt.ctranslate2_mt import CTranslate2Translator
from edge.synthetic.ct2_transformer import build_marian_like, build_nllb_like


def test_turns_keep_sentences_together_and_turns_apart() -> None:
    rate = 16000
    audio = np.zeros(10 * rate, np.float32)
    spans = [bench.Utterance(start, start + 1.0) for start in (1.0, 3.0, 5.0, 7.0)]
    for span in spans:
        audio[int(span.start_s * rate) : int(span.end_s * rate)] = 0.5
    laid, turns = bench._with_pauses(audio, spans, pause_s=1.2, per_turn=2)
    assert len(turns) == 2
    # Two 1 s sentences and the short pause between them make one turn.
    assert [round(t.end_s - t.start_s, 2) for t in turns] == [2.25, 2.25]
    assert round(turns[1].start_s - turns[0].end_s, 2) == 1.2
    found = bench.speech_spans(laid, min_gap_s=bench.WITHIN_TURN_PAUSE_S + 0.1)
    assert [(round(f.start_s, 2), round(f.end_s, 2)) for f in found] == [
        (round(t.start_s, 2), round(t.end_s, 2)) for t in turns
    ]
    _laid, alone = bench._with_pauses(audio, spans, pause_s=1.2)
    assert len(alone) == 4


def test_token_count_is_one_per_word_and_mark_plus_specials() -> None:
    # NLLB-200's tokenizer: "How was your day?" -> eng_Latn, 5 pieces, </s>.
    assert bench.production_token_count("How was your day?", "nllb") == 7
    assert bench.production_token_count("How was your day?", "marian") == 6  # no language token


@pytest.mark.parametrize("build", [build_marian_like, build_nllb_like])
def test_stand_in_streams_the_source_at_the_pace_of_a_real_decode(build, tmp_path: Path) -> None:  # noqa: ANN001
    mt = CTranslate2Translator.load(build(tmp_path / "model"))
    standin = bench.FixedLengthStandIn(mt)
    sentence = "The train to the airport leaves at nine."
    assert list(standin.translate_words(sentence, "eng_Latn", "spa_Latn")) == sentence.split()
    assert standin.decoded_tokens == bench.production_token_count(sentence, mt.flavour)
    assert standin.translate([sentence], "eng_Latn", "spa_Latn") == [sentence]
    assert mt.last_stats is not None
    assert mt.last_stats.decoded_tokens == bench.production_token_count(sentence, mt.flavour)
    # Closing early stops the decode: only what was decoded is counted.
    before = standin.decoded_tokens
    words = standin.translate_words(sentence, "eng_Latn", "spa_Latn")
    next(words)
    words.close()
    assert 0 < standin.decoded_tokens - before < bench.production_token_count(sentence, mt.flavour)


def test_table_reports_both_layouts_and_their_ratios() -> None:
    result = bench.ConfigResult(
        config="cascade-opus",
        models={},
        utterances=2,
        latency_ms=[400.0, 500.0],
        naive_latency_ms=[900.0, 900.0],
        stage_ms={},
        real_time_factor={"asr": 0.03, "tts": 0.05},
        peak_rss_mb=400.0,
        turns=1,
        turn_latency_ms=[300.0],
        turn_naive_latency_ms=[1500.0],
    )
    row = bench.markdown_table([result]).splitlines()[-1]
    assert "| 450 ms |" in row and "| 2.0x |" in row
    assert "| 300 ms (1/1) | 1500 ms | 5.0x |" in row
