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
        stream_latency_ms=[675.0, 675.0],
        stage_ms={},
        real_time_factor={"asr": 0.03, "tts": 0.05},
        peak_rss_mb=400.0,
        turns=1,
        turn_latency_ms=[300.0],
        turn_naive_latency_ms=[1500.0],
        turn_stream_latency_ms=[600.0],
        sink_delay_ms=[8.0, 12.0, 10.0],
    )
    row = bench.markdown_table([result]).splitlines()[-1]
    # spoken, p50, p90, p95, sentence-streaming p50, naive p50, the ratios to each.
    assert "| 2/2 | 450 ms | 490 ms | 495 ms | 675 ms | 900 ms | 1.5x | 2.0x |" in row
    assert "| 1/1 | 300 ms | 600 ms | 1500 ms | 2.0x | 5.0x | 10 ms |" in row
    header = bench.markdown_table([result]).splitlines()[0]
    assert header.count("|") == row.count("|")


def test_table_counts_misses() -> None:
    miss = bench.MISS
    result = bench.ConfigResult(
        config="direct",
        models={},
        utterances=3,
        latency_ms=[400.0, miss, miss],
        naive_latency_ms=[900.0, 900.0, miss],
        stream_latency_ms=[700.0, 700.0, 700.0],
        stage_ms={},
        real_time_factor={},
        peak_rss_mb=400.0,
    )
    row = bench.markdown_table([result]).splitlines()[-1]
    # p50 lands on a miss: no ratio can be claimed for the engine.
    assert "| direct | 1/3 | miss | miss | miss | 700 ms | 900 ms | - | - |" in row


class ToneVoice:
    """A deterministic stand-in voice: 0.1 s of tone per word, with silence around it."""

    sample_rate = 22050

    def synthesize(self, text: str):  # noqa: ANN201
        pad = np.zeros(int(0.2 * self.sample_rate), np.float32)
        t = np.arange(int(0.1 * self.sample_rate * len(text.split()))) / self.sample_rate
        yield np.concatenate([pad, 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32), pad])


def test_set_has_pauses_inside_sentences_and_exact_truth() -> None:
    assert len(bench.BENCH_SET) >= 24 and len(bench.BENCH_SET) % bench.SENTENCES_PER_TURN == 0
    with_comma = [text for text in bench.BENCH_SET if "," in text]
    assert len(with_comma) >= 6
    pieces = bench.spoken_set(ToneVoice())
    assert [len(p) for p in pieces] == [len(p) for p in bench.spoken_set(ToneVoice())]
    for text, piece in zip(bench.BENCH_SET, pieces, strict=True):
        gaps = bench.speech_spans(piece, min_gap_s=0.1)
        if "," in text:  # the pause at the comma, in range
            assert len(gaps) == 2
            pause = gaps[1].start_s - gaps[0].end_s
            low, high = bench.INNER_PAUSE_S
            assert low - 0.02 <= pause <= high + 0.02
        else:
            assert len(gaps) == 1
    audio, truth = bench.set_recording(pieces, 1)
    assert len(truth) == len(bench.BENCH_SET) and truth[0].text == bench.BENCH_SET[0]
    _turns_audio, turns = bench.set_recording(pieces, bench.SENTENCES_PER_TURN)
    assert len(turns) == len(bench.BENCH_SET) // bench.SENTENCES_PER_TURN
    assert turns[0].text == " ".join(bench.BENCH_SET[:2])
    # The truth is the layout: each span starts and ends on sound.
    for u in truth:
        span = audio[int(u.start_s * 16000) : int(u.end_s * 16000)]
        assert np.abs(span[:400]).max() > 0.05 and np.abs(span[-400:]).max() > 0.05


def test_noisy_variant_is_10_db_below_the_speech() -> None:
    pieces = bench.spoken_set(ToneVoice(), bench.BENCH_SET[:4])
    audio, truth = bench.lay_out(pieces, bench.BENCH_SET[:4])
    noisy = bench.with_noise(audio, truth, bench.cafe_noise(len(audio), pieces))
    noise = noisy - audio
    inside = np.concatenate([audio[int(u.start_s * 16000) : int(u.end_s * 16000)] for u in truth])
    snr = 10 * np.log10(np.mean(inside**2) / np.mean(noise**2))
    assert abs(snr - bench.NOISE_SNR_DB) < 0.5
    # Noise throughout: the pauses between utterances are no longer digital silence.
    gap = noisy[int((truth[0].end_s + 0.3) * 16000) : int((truth[1].start_s - 0.3) * 16000)]
    assert np.sqrt(np.mean(gap**2)) > 0.01
    again = bench.with_noise(audio, truth, bench.cafe_noise(len(audio), pieces))
    assert np.array_equal(noisy, again)  # seeded: the same noise every run


def test_plot_draws_a_cdf_per_configuration(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    miss = bench.MISS
    results = [
        bench.ConfigResult(
            config="cascade-opus",
            variant=variant,
            models={},
            utterances=3,
            latency_ms=[400.0, 450.0, miss],
            naive_latency_ms=[900.0, 950.0, 1000.0],
            stream_latency_ms=[600.0, 650.0, 700.0],
            stage_ms={},
            real_time_factor={},
            peak_rss_mb=400.0,
            turns=1,
            turn_latency_ms=[420.0],
            turn_naive_latency_ms=[1500.0],
            turn_stream_latency_ms=[700.0],
        )
        for variant in ("clean", "noisy")
    ]
    out = tmp_path / "cdf.png"
    bench.plot_cdf(results, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results[1].label == "cascade-opus (noisy)"


def test_command_line_takes_several_configs_and_an_input_variant() -> None:
    from edge.cli import build_parser

    args = build_parser().parse_args(
        ["bench", "--config", "cascade-opus", "direct", "--input", "noisy", "--plot", "x.png"]
    )
    assert args.config == ["cascade-opus", "direct"]
    assert args.input == "noisy" and args.plot == "x.png"
    assert build_parser().parse_args(["bench"]).config == ["all"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--config", "no-such-config"])
