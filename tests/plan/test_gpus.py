"""The card table's rules at their edges: peak fallbacks, name matching, overrides, a report's hardware line, a
CUDA device's card and the cards a peak fits on. Expected values are worked out by hand from the rules."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.plan.gpus import (
    GPUS,
    Gpu,
    card,
    card_key,
    device_card,
    fitting_cards,
    load_cards,
    report_hardware,
    resolve_gpu,
    squeezed,
)

# a small table of our own: two sizes of one family, a card whose key ends in another's name, a card without bf16
CARDS = {"a100-40g": Gpu("A100 40GB", 40.0, 312.0, 312.0), "a100-80g": Gpu("A100 80GB", 80.0, 312.0, 312.0),
         "rtx4090": Gpu("RTX 4090", 24.0, 165.0, 165.0), "t4": Gpu("T4", 15.0, None, 65.0, 8.1)}


def test_each_precision_falls_back_in_its_own_order() -> None:
    full = Gpu("full", 10.0, 200.0, 100.0, fp32_tflops=20.0, tf32_tflops=40.0)
    assert [full.peak_tflops(p) for p in ("bf16", "fp16", "tf32", "fp32", "int8")] == [200.0, 100.0, 40.0, 20.0, 100.0]
    no_tf32 = Gpu("no tf32", 10.0, None, 100.0, fp32_tflops=20.0)
    assert no_tf32.peak_tflops("tf32") == 20.0  # tf32 -> fp32 before fp16
    assert no_tf32.peak_tflops("bf16") == 100.0  # no bf16 path: fp16
    bare = Gpu("bare", 10.0, None, 100.0)
    assert [bare.peak_tflops(p) for p in ("bf16", "tf32", "fp32")] == [100.0, 100.0, 100.0]
    assert (full.half_precision(), bare.half_precision()) == ("bf16", "fp16")


def test_a_cards_entry_with_and_without_its_optional_parts() -> None:
    raw = {"name": "X 8GB", "memory_gib": 7.5, "tflops": {"fp16": 50, "bf16": 60, "fp32": 10, "tf32": 20},
           "memory_gb_s": 400, "link": {"kind": "NVLink", "gb_s": 100},
           "price": {"usd_per_hour": 1.25, "source": "example.com", "date": "2026-01"}}
    assert card("x", raw, "f.yaml") == Gpu("X 8GB", 7.5, 60, 50.0, 10, 20, 400.0, "NVLink", 100.0, 1.25,
                                           "example.com, 2026-01")
    plain = {"name": "Y", "memory_gib": 8, "tflops": {"fp16": 30}, "memory_gb_s": 200}
    assert card("y", plain, "f.yaml") == Gpu("Y", 8.0, None, 30.0, None, None, 200.0, "", 0.0, None, "")
    for broken in ({**plain, "tflops": {"bf16": 30}}, {**plain, "memory_gib": "lots"}, {**plain, "tflops": 30},
                   "just a name"):
        with pytest.raises(InputError, match=r"^f.yaml: card y: needs name, memory_gib, tflops \(fp16 at least\)"):
            card("y", broken, "f.yaml")


def test_a_users_cards_file_adds_cards_and_replaces_the_shipped_one_of_the_same_key(tmp_path: Path) -> None:
    extra = tmp_path / "cards.yaml"
    extra.write_text("T4:\n  name: My T4\n  memory_gib: 14\n  tflops: {fp16: 60}\n  memory_gb_s: 300\n"
                     "Z9:\n  name: Z9\n  memory_gib: 9\n  tflops: {fp16: 9}\n  memory_gb_s: 9\n", encoding="utf-8")
    cards = load_cards(extra)
    assert cards["t4"].name == "My T4" and cards["z9"].memory_gib == 9.0  # keys lower-cased, the user's wins
    assert set(cards) == set(GPUS) | {"z9"}


def test_names_squeeze_to_letters_and_digits() -> None:
    assert squeezed("NVIDIA A100-SXM4-80GB") == "a10080g"
    assert squeezed("NVIDIA GeForce RTX 4090") == "rtx4090"
    assert squeezed("Tesla T4") == "t4"
    assert squeezed("H100 PCIe 80 GB") == "h10080g"
    assert squeezed("A100 80GBs") == "a10080gbs"  # GB only as a word's end


def test_card_names_by_exact_key_squeezed_name_and_a_unique_part() -> None:
    assert card_key("A100-80G", CARDS) == "a100-80g"  # the key itself, any case
    assert card_key("NVIDIA A100 80GB", CARDS) == "a100-80g"  # squeezed to the key's squeezed form
    assert card_key("4090", CARDS) == "rtx4090"  # the end of one name
    assert card_key("rtx", CARDS) == "rtx4090"  # the start of one name
    assert card_key("x40", CARDS) == "rtx4090"  # inside one name
    with pytest.raises(InputError, match=r"^--gpu 'a100' fits a100-40g and a100-80g: say which"):
        card_key("a100", CARDS)
    assert card_key("NVIDIA A10", GPUS) == "a10"  # the whole squeezed name wins over a100-*'s starting with it
    twins = {"rtx-4090": CARDS["rtx4090"], "rtx4090": CARDS["t4"]}  # both squeeze to rtx4090
    assert (card_key("RTX-4090", twins), card_key("rtx 4090", twins)) == ("rtx-4090", "rtx4090")


def test_an_unknown_card_suggests_the_nearest_name_at_half_similarity_and_not_below() -> None:
    assert difflib.SequenceMatcher(None, "t5", "t4").ratio() == 0.5  # exactly the cutoff
    with pytest.raises(InputError, match=r"is not in the table \(a100-40g, a100-80g, rtx4090, t4\); did you mean t4\?"):
        card_key("t5", CARDS)
    with pytest.raises(InputError, match=r"did you mean rtx4090\? or describe it with --gpu-mem GIB --gpu-tflops"):
        card_key("rtx4080", CARDS)
    with pytest.raises(InputError, match=r"\); or describe it"):  # nothing near: no hint
        card_key("mi300", CARDS)
    with pytest.raises(InputError, match=r"^--gpu '--' is not in the table"):  # nothing left to match: no card fits
        card_key("--", CARDS)


def test_a_card_from_the_table_described_or_overridden() -> None:
    with pytest.raises(InputError) as raised:
        resolve_gpu(None, cards=CARDS)
    assert str(raised.value) == ("name a card with --gpu (a100-40g, a100-80g, rtx4090, t4) or describe one with "
                                 "--gpu-mem and --gpu-tflops")
    with pytest.raises(InputError, match=r"^name a card with --gpu"):  # a peak alone describes no card
        resolve_gpu(None, None, 50.0, cards=CARDS)
    with pytest.raises(InputError, match=r"^--gpu-mem needs --gpu-tflops"):
        resolve_gpu(None, 24.0, cards=CARDS)
    assert resolve_gpu("t4", cards=CARDS) is CARDS["t4"]
    assert resolve_gpu(None, 23.5, 100.0, cards=CARDS) == Gpu("custom 23.5 GiB", 23.5, 100.0, 100.0)
    assert resolve_gpu("t4", 0.0, cards=CARDS) == Gpu("T4", 0.0, None, 65.0, 8.1)  # memory alone, even 0
    assert resolve_gpu("t4", tflops=50.0, cards=CARDS) == Gpu("T4", 15.0, 50.0, 50.0, 8.1)  # peak alone
    assert resolve_gpu("t4", 12.0, 50.0, cards=CARDS) == Gpu("T4", 12.0, 50.0, 50.0, 8.1)


@pytest.mark.parametrize(("line", "expected"), [
    ("8x A100-SXM4-40GB", ("a100-40g", 8, True)),
    ("8 x A100 80GB (one GPU is enough)", ("a100-80g", 8, True)),
    ("4x A100", ("a100-40g", 4, True)),  # an A100 of no stated size is the smaller one, not an A10
    ("1x A10G", ("a10", 1, True)),
    ("2x NVIDIA A6000 48GB", ("rtx-a6000", 2, True)),
    ("H100", ("h100-80g", 1, True)),
    ("RTX 4090; later 3090", ("rtx4090", 1, True)),
    ("1 GPU (fp16 class)", ("t4", 1, False)),
    ("4 GPUs", ("t4", 4, False)),
    ("2x GPU", ("t4", 2, False)),
    ("   ", ("t4", 1, False)),
    ("", ("t4", 1, False)),
])
def test_a_reports_hardware_line(line: str, expected: tuple[str, int, bool]) -> None:
    assert report_hardware(line) == expected


def test_a_cuda_device_is_its_longest_family_then_the_nearest_size() -> None:
    assert device_card("NVIDIA A100-SXM4-80GB", 79.1, GPUS) == "a100-80g"  # a10 and a100 both in the name
    assert device_card("NVIDIA A100-PCIE-40GB", 39.4, GPUS) == "a100-40g"
    assert device_card("NVIDIA L40S", 44.5, GPUS) == "l40s"  # l4 and l40s
    assert device_card("NVIDIA L4", 22.0, GPUS) == "l4"
    assert device_card("Tesla V100-SXM2-32GB", 31.7, GPUS) == "v100-32g"
    assert device_card("AMD Instinct MI300X", 192.0, GPUS) is None
    assert device_card("NVIDIA A100", 60.0, CARDS) == "a100-40g"  # halfway: the first of the table


def test_the_cards_a_peak_fits_on_smallest_first_the_peak_itself_fitting() -> None:
    cards = {"big": Gpu("big", 80.0, None, 1.0), "small": Gpu("small", 16.0, None, 1.0),
             "mid": Gpu("mid", 24.0, None, 1.0)}
    assert fitting_cards(24.0, cards) == ["mid", "big"]
    assert fitting_cards(0.0, cards) == ["small", "mid", "big"]
    assert fitting_cards(80.01, cards) == []


class Device:
    """What torch.cuda.get_device_properties gives: a name and total memory in bytes."""

    def __init__(self, name: str, gib: float) -> None:
        self.name, self.total_memory = name, int(gib * 2**30)


def test_this_machines_card_is_none_without_cuda_and_the_tables_key_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CUDA here: torch's two device queries are replaced by an 80 GB A100's answers."""
    import torch

    from recipekit.plan.gpus import local_card

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert local_card(CARDS) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Device("NVIDIA A100-SXM4-80GB", 79.3))
    assert local_card(CARDS) == "a100-80g"
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Device("NVIDIA H100 80GB HBM3", 79.6))
    assert local_card(CARDS) is None  # a card the table lacks


def test_the_default_card_is_the_headers_then_this_machines_then_none(monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.plan import gpus
    from recipekit.recipes.reading import load_recipe

    monkeypatch.setattr(gpus, "local_card", lambda cards: None)
    named = load_recipe("recipes/agnews_full.yaml")  # its chain entry: 8x A100-SXM4-40GB
    assert gpus.default_card(named, GPUS) == ("a100-40g", "the recipe's header names 8x A100-SXM4-40GB")
    demo = load_recipe("recipes/demo/agnews_tiny_sft.yaml")  # "2 CPU cores, no GPU": no card named
    assert gpus.default_card(demo, GPUS) == (None, None)
    cloud = load_recipe("recipes/yelp5_lora.yaml")  # "1 cloud GPU": a GPU, but no card of the table
    assert gpus.default_card(cloud, GPUS) == (None, None)
    monkeypatch.setattr(gpus, "local_card", lambda cards: "rtx4090")
    assert gpus.default_card(demo, GPUS) == ("rtx4090", "this machine's GPU")
    assert gpus.default_card(named, GPUS)[1].startswith("the recipe's header")  # the header wins over the machine


def test_a_plans_peak_and_the_cards_that_hold_it() -> None:
    from recipekit.plan.gpus import peak_and_cards

    result = {"recipe": "r.yaml", "gpus": 2, "memory": {"peak_gib": 24.0}, "time": {}}
    assert peak_and_cards(result, CARDS) == {"recipe": "r.yaml", "gpus": 2, "peak_gib": 24.0,
                                             "fits_cards": ["rtx4090", "a100-40g", "a100-80g"]}
