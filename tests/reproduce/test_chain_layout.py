"""A chain's steps as a reproduction lays them out: the raw files a tiny conversion reads, the converter's write
flag, the step named in a placeholder error, environment values holding '=', which tokens are a recipe's overrides,
the reference model a preference recipe reads, and the help that lists every report."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from recipekit.errors import InputError
from recipekit.reproduce.chain import Chain, Layout, StepSpec, add_chain_arguments


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A root with a DPO recipe whose policy adapter and reference (a full model and an adapter) are folders other
    steps train."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "reproduce").mkdir(parents=True)
    recipes = {
        "dpo.yaml": {"model_name_or_path": "Qwen/Qwen3-4B-Base", "adapter_name_or_path": "saves/sft",
                     "ref_model": "saves/ref_full", "ref_model_adapters": "saves/ref_lora", "stage": "dpo",
                     "do_train": True, "finetuning_type": "lora", "dataset": "uf", "dataset_dir": "data",
                     "template": "qwen3", "output_dir": "saves/dpo"},
    }
    for name, args in recipes.items():
        (tmp_path / "recipes" / name).write_text(yaml.safe_dump(args), encoding="utf-8")
    return tmp_path


def chain_of(root: Path, steps: list[StepSpec]) -> Chain:
    return Chain("demo", root / "recipes" / "reproduce" / "demo.yaml", "r.md", "Demo", steps, [])


class Converter:
    """A fixture converter's flags: two raw files, each after --input, the last one ending the flags; it keeps
    the arguments it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Path, bool]] = []

    def __call__(self, name: str, raw: Path, write: bool) -> list[str]:
        self.calls.append((name, raw, write))
        return ["--input", str(raw / f"{name}_a.csv"), "--val-size", "4", "--input", str(raw / f"{name}_b.csv")]


def test_a_tiny_conversion_reads_every_raw_file_its_flags_name(project: Path) -> None:
    spec = StepSpec("data", "python converters/agnews.py --hf x --data-dir data",
                    tiny="python converters/agnews.py {fixture:agnews} --data-dir data",
                    inputs=("{out}/notes.txt",), outputs=("data/agnews_train.jsonl",))
    converter = Converter()
    step = Layout(chain_of(project, [spec]), Path("out"), True, sources=converter).step(spec)
    assert step.command == ["python", "converters/agnews.py", "--input", "out/raw/agnews_a.csv", "--val-size", "4",
                            "--input", "out/raw/agnews_b.csv", "--data-dir", "out/data"]
    assert step.inputs == [Path("out/notes.txt"), Path("out/raw/agnews_a.csv"), Path("out/raw/agnews_b.csv")]
    assert step.outputs == [Path("out/data/agnews_train.jsonl")]
    assert converter.calls == [("agnews", Path("out/raw"), True)]


def test_a_dry_run_asks_the_converter_not_to_write(project: Path) -> None:
    spec = StepSpec("data", "python converters/agnews.py --hf x", tiny="python converters/agnews.py {fixture:agnews}")
    converter = Converter()
    Layout(chain_of(project, [spec]), Path("out"), True, sources=converter, writes=False).step(spec)
    assert converter.calls == [("agnews", Path("out/raw"), False)]


def test_a_flag_that_ends_the_converters_flags_reads_nothing(project: Path) -> None:
    layout = Layout(chain_of(project, []), Path("out"), True, sources=lambda name, raw, write: ["--input"])
    fixtures: list[str] = []
    assert layout.fill("convert {fixture:x}", "data", fixtures) == "convert --input"
    assert fixtures == []


@pytest.mark.parametrize(("field", "spec"), [
    ("run", StepSpec("train", "llamafactory-cli train {outt}/x.yaml")),
    ("outputs", StepSpec("train", "echo", outputs=("{outt}/done.json",))),
    ("inputs", StepSpec("train", "echo", inputs=("{fixture:x}/raw.csv",))),
])
def test_an_unknown_placeholder_names_the_chain_file_and_the_step(project: Path, field: str, spec: StepSpec) -> None:
    with pytest.raises(InputError) as refused:
        Layout(chain_of(project, [spec]), Path("out"), False).step(spec)
    placeholder = "{outt}" if field != "inputs" else "{fixture:x}"
    assert str(refused.value) == (f"{project}/recipes/reproduce/demo.yaml: step train: unknown placeholder "
                                  f"{placeholder} (known: {{out}}, {{fixture:DATASET}} in a tiny command)")
    assert refused.value.path == str(project / "recipes" / "reproduce" / "demo.yaml")


def test_an_environment_value_may_hold_an_equals_sign(project: Path) -> None:
    spec = StepSpec("report", "PYTHONWARNINGS=ignore::x=y LC_ALL=C.UTF-8 python eval/report.py a=b")
    step = Layout(chain_of(project, [spec]), Path("out"), False).step(spec)
    assert step.command == ["python", "eval/report.py", "a=b"]
    assert step.env == {"PYTHONWARNINGS": "ignore::x=y", "LC_ALL": "C.UTF-8", "WANDB_RUN_GROUP": "reproduce-demo",
                        "WANDB_DIR": "out"}


def test_only_key_value_tokens_after_the_recipe_are_its_overrides(project: Path) -> None:
    spec = StepSpec("dpo", "llamafactory-cli train seed=1 recipes/dpo.yaml --log=x --out saves/elsewhere "
                           "output_dir=saves/o")
    step = Layout(chain_of(project, [spec]), Path("out"), False).step(spec)
    assert step.overrides == {"output_dir": "saves/o"}
    assert step.outputs == [Path("saves/o/trainer_state.json")]


def test_a_preference_run_reads_its_reference_model_and_adapter(project: Path) -> None:
    spec = StepSpec("dpo", "llamafactory-cli train recipes/dpo.yaml")
    step = Layout(chain_of(project, [spec]), Path("out"), True).step(spec)
    assert step.inputs == [Path("out/recipes/dpo.yaml"), Path("out/data/dataset_info.json"),
                           Path("out/data/uf.jsonl"), Path("out/saves/sft"), Path("out/saves/ref_full"),
                           Path("out/saves/ref_lora")]
    real = Layout(chain_of(project, [spec]), Path("out"), False).step(spec)
    assert real.inputs == [Path("recipes/dpo.yaml"), Path("data/dataset_info.json"), Path("data/uf.jsonl"),
                           Path("saves/sft"), Path("saves/ref_full"), Path("saves/ref_lora")]


def test_the_report_argument_lists_every_chain(project: Path) -> None:
    for name in ("beta", "alpha", "gamma"):
        (project / "recipes" / "reproduce" / f"{name}.yaml").write_text("steps:\n  - {name: a, run: echo a}\n",
                                                                        encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_chain_arguments(parser, "where it goes", "a CPU run")
    assert "report the report: alpha, beta, gamma " in " ".join(parser.format_help().split())
