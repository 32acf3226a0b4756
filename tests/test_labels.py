"""One label: how runs and configurations are named everywhere (harness.labels)."""

from __future__ import annotations

from harness.labels import emulated_variant, repeat_tail, run_label


def test_a_run_label_is_candidate_rank_backend_quant_then_tags() -> None:
    assert run_label("gemma-2-2b-it", 16, "hf", "none") == "gemma-2-2b-it r16 hf none"
    assert run_label("gemma-2-2b-it", 16, "hf", "none", ["b2", "len512", "real"]) == (
        "gemma-2-2b-it r16 hf none b2 len512 real"
    )
    assert (
        run_label("m", 8, "hf", "nf4", ["", "shape"], variant=" (as T4)", tail=" #2") == "m r8 hf nf4 shape (as T4) #2"
    )


def test_parts_left_out_and_a_file_stems_separator() -> None:
    assert run_label(None, 16, "hf", "none") == "r16 hf none"  # a cell's configuration
    assert run_label("m", 16, None, "nf4") == "m r16 nf4"  # a pair's place: no backend
    assert run_label("m", 16) == "m r16"
    assert run_label("m", 16, "hf", "none", ["b2", "as-T4"], sep="-", tail="-rep2") == "m-r16-hf-none-b2-as-T4-rep2"


def test_the_variant_and_the_repeat_marks() -> None:
    assert emulated_variant("T4") == " (as T4)" and emulated_variant(None) == ""
    assert repeat_tail(0) == "" and repeat_tail(1) == " #2" and repeat_tail(3, warmup=True) == " warm-up"
    assert (
        repeat_tail(0, sep="-") == ""
        and repeat_tail(1, sep="-") == "-rep2"
        and repeat_tail(0, True, sep="-") == "-warmup"
    )


def test_a_requests_label_and_its_file_stem_agree() -> None:
    from harness.keys import result_stem
    from tests.tiny import tiny_request

    req = tiny_request("llama", repeat=1)
    assert req.label.startswith(f"{req.candidate.name} r{req.lora.rank} hf none")
    assert req.label.endswith(" #2")
    assert result_stem(req, "0123456789abcdef") == f"{req.candidate.name}-r{req.lora.rank}-hf-none-rep2-0123456789ab"
