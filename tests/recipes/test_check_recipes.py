"""scripts/check_recipes.py on every shipped recipe and on broken ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli, run_script

from recipekit.recipes.reading import all_recipe_files, recipe_files

HEADER = """# A broken copy for a test.
#
# Launch (from the repository root):
#   {launch}llamafactory-cli train {path}
#
# Report's hardware: 1 GPU.
# Global batch: 2 per device x 8 accumulation x 2 GPUs = 32 rows per optimizer step.
# Target: none.
# Report: none (a test recipe).
# Differences from the report: none.
"""


def write_recipe(tmp_path: Path, name: str, args: dict, launch: str = "") -> Path:
    path = tmp_path / "recipes" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(launch=launch, path=path) + yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
    return path


def base_args(**changes: object) -> dict:
    args = yaml.safe_load((ROOT / "recipes" / "qwen3_4b_tulu_sft_lora.yaml").read_text(encoding="utf-8"))
    args.pop("deepspeed")
    args.update(changes)
    return {k: v for k, v in args.items() if v is not None}


def check(*args: str | Path, cwd: Path = ROOT) -> tuple[int, str]:
    result = run_cli("check", "recipes", *args, cwd=cwd)
    return result.returncode, result.stdout


def test_every_shipped_recipe_passes_and_prints_its_global_batch() -> None:
    code, out = check()
    assert code == 0, out
    recipes = [str(p.relative_to(ROOT)) for p in all_recipe_files(ROOT / "recipes")]
    assert not any("benchmarks" in r for r in recipes)
    assert len(recipes) >= 19 and sum("recipes/classifier/" in r for r in recipes) == 4
    for recipe in recipes:
        assert f"{recipe}: ok" in out
    assert f"{len(recipes)} recipe(s) checked, 0 with errors" in out
    assert "global batch (2 per device x 8 accumulation): 1 GPU: 16, 2 GPUs: 32, 8 GPUs: 128" in out
    assert "note: adapter_name_or_path saves/qwen3-4b/lora/tulu_sft is made by recipes/qwen3_4b_tulu_sft_lora.yaml" \
        in out


def test_gpus_prints_the_accumulation_that_keeps_the_reports_batch() -> None:
    code, out = check("recipes/agnews_full.yaml", "recipes/qwen3_4b_tulu_sft_lora.yaml", "--gpus", "4")
    assert code == 0, out
    assert "on 4 GPUs keep the report's global batch 128 with gradient_accumulation_steps=8" in out
    assert "on 4 GPUs keep the report's global batch 32 with gradient_accumulation_steps=4" in out
    code, out = check("recipes/qwen3_4b_tulu_sft_lora.yaml", "--gpus", "3")
    assert "on 3 GPUs no whole accumulation gives 32 with 2 per device; gradient_accumulation_steps=5 gives 30" in out


def export_args(**changes: object) -> dict:
    args = yaml.safe_load((ROOT / "recipes" / "export" / "qwen3_4b_tulu_sft_lora.yaml").read_text(encoding="utf-8"))
    args.update(changes)
    return {k: v for k, v in args.items() if v is not None}


BROKEN = {
    "export_quantised": (export_args(quantization_bit=4),
                         "error: quantization_bit: an adapter cannot be merged into a quantised model"),
    "export_other_base": (export_args(model_name_or_path="Qwen/Qwen3-8B-Base"),
                          # the recipes given together (z2_ok.yaml, last) write the adapter, not the shipped one
                          "recipes/z2_ok.yaml trained the adapter with 'Qwen/Qwen3-4B-Base': merge with the training "
                          "recipe's"),
    "export_other_template": (export_args(template="qwen3"), "error: template: 'qwen3', but"),
    "export_no_adapter": (export_args(adapter_name_or_path=None), "error: an export recipe merges an adapter"),
    "export_full_run": (export_args(adapter_name_or_path="saves/llama3.1-8b/full/agnews"),
                        "error: adapter_name_or_path saves/llama3.1-8b/full/agnews: recipes/agnews_full.yaml trains "
                        "all weights"),
    "export_unknown_key": (export_args(learning_rate=1e-4), "error: unknown key(s) ['learning_rate']"),
    "unknown_key": (base_args(lora_rnak=8),
                    "error: unknown key(s) ['lora_rnak']: not LLaMA-Factory arguments (check the spelling"),
    "missing_dataset": (base_args(dataset="yelp5_typo"),
                        "error: dataset 'yelp5_typo' is not in data/dataset_info.json: register it in "
                        "dataset_info.json"),
    "stage_mismatch": (base_args(stage="dpo"),
                       "error: dataset 'tulu3_personas_if' is not a preference set but stage is dpo"),
    "bad_value": (base_args(lr_scheduler_type="sometimes"), "error: LLaMA-Factory's parser refused it:"),
    "quant_full": (base_args(quantization_bit=4, finetuning_type="full"),
                   "error: quantization_bit with finetuning_type full: a quantised model can only be trained through "
                   "adapters"),
    "no_model_path": (base_args(adapter_name_or_path="saves/never/made"),
                      "error: adapter_name_or_path saves/never/made: no such local path, and no recipe writes it"),
    "batch_mismatch": (base_args(gradient_accumulation_steps=4),
                       "error: header says 2 per device x 8 accumulation but the recipe sets "
                       "per_device_train_batch_size 2, gradient_accumulation_steps 4: make them agree"),
    "z3_quant": (base_args(deepspeed="recipes/deepspeed/ds_z3_config.json", quantization_bit=4),
                 "error: quantization_bit with ZeRO-3"),
    "z3_no_torchrun": (base_args(deepspeed="recipes/deepspeed/ds_z3_config.json"),
                       "error: DeepSpeed recipes must be launched with torchrun: make the header's launch line "
                       "`FORCE_TORCHRUN=1 llamafactory-cli train"),
}


def sections(out: str) -> dict[str, str]:
    """Each recipe's block of check_recipes output, by recipe file stem."""
    blocks: dict[str, str] = {}
    current = None
    for line in out.splitlines():
        if not line.startswith(" ") and ".yaml: " in line:
            current = Path(line.split(": ", 1)[0]).stem
            blocks[current] = line
        elif current and line.startswith("  "):
            blocks[current] += "\n" + line
    return blocks


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    """One check_recipes run over every broken recipe (LLaMA-Factory and DeepSpeed import once)."""
    tmp_path = tmp_path_factory.mktemp("broken")
    paths = [write_recipe(tmp_path, name, args) for name, (args, _) in BROKEN.items()]
    z3_predict = yaml.safe_load((ROOT / "recipes" / "agnews_predict.yaml").read_text(encoding="utf-8"))
    z3_predict["deepspeed"] = "recipes/deepspeed/ds_z3_config.json"
    paths.append(write_recipe(tmp_path, "z3_predict", z3_predict))
    config = json.loads((ROOT / "recipes" / "deepspeed" / "ds_z2_config.json").read_text(encoding="utf-8"))
    config["zero_optimization"]["overlap_comms"] = True
    bad = tmp_path / "ds_bad.json"
    bad.write_text(json.dumps(config), encoding="utf-8")
    paths.append(write_recipe(tmp_path, "bad_ds", base_args(deepspeed=str(bad)), launch="FORCE_TORCHRUN=1 "))
    paths.append(write_recipe(tmp_path, "z2_ok", base_args(deepspeed="recipes/deepspeed/ds_z2_config.json"),
                              launch="FORCE_TORCHRUN=1 "))
    code, out = check(*paths)
    return code, out, bad


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_recipes_fail_with_what_to_change(broken_run: tuple[int, str, Path], name: str) -> None:
    code, out, _ = broken_run
    assert code == 1
    block = sections(out)[name]
    assert " error(s)" in block.splitlines()[0]
    assert BROKEN[name][1] in block, block


def test_zero3_predict_and_bad_deepspeed_fields_are_refused(broken_run: tuple[int, str, Path]) -> None:
    _, out, bad = broken_run
    blocks = sections(out)
    assert "error: predict_with_generate is refused under DeepSpeed ZeRO-3: drop `deepspeed`" in blocks["z3_predict"]
    assert f"error: DeepSpeed rejects {bad} on 1 GPU(s):" in blocks["bad_ds"]
    assert "overlap_comms" in blocks["bad_ds"] and "Extra inputs are not permitted" in blocks["bad_ds"]
    assert blocks["z2_ok"].splitlines()[0].endswith(": ok, 1 warning(s)")  # the base-model template warning
    assert f"{len(BROKEN) + 3} recipe(s) checked, {len(BROKEN) + 2} with errors" in out


def test_header_fields_are_required(tmp_path: Path) -> None:
    bare = write_recipe(tmp_path, "bare", base_args())
    bare.write_text("\n".join(line for line in bare.read_text(encoding="utf-8").splitlines()
                              if not line.startswith("# Target")), encoding="utf-8")
    code, out = check(bare)
    assert code == 1 and "error: header lacks: target" in out
    path = chain_copy(tmp_path, "yelp5_predict.yaml", lambda entry: entry.pop("target"))
    code, out = check(path)
    assert code == 1 and "error: recipes: recipes/yelp5_predict.yaml: lacks target (keys: " in out
    path.write_text(path.read_text(encoding="utf-8").replace("reproduce/yelp5.yaml", "reproduce/yelp6.yaml"),
                    encoding="utf-8")
    code, out = check(path)
    assert code == 1 and "error: the header's Report: names recipes/reproduce/yelp6.yaml, which is not a chain" in out
    moved = path.with_name("yelp5_renamed.yaml")
    shutil.copy(chain_copy(tmp_path, "yelp5_predict.yaml", lambda entry: None), moved)
    code, out = check(moved)
    assert code == 1 and "error: recipes: has no entry for recipes/yelp5_renamed.yaml" in out


@pytest.mark.integration
def test_invalid_yaml_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("stage: sft\n  bad: [indent\n", encoding="utf-8")
    result = run_script("scripts/check_recipes.py", path)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {path}:")


def chain_copy(tmp_path: Path, recipe: str, edit: callable, text_edit: callable = str) -> Path:
    """recipes/RECIPE and its chain file recipes/reproduce/yelp5.yaml copied into a repository of their own,
    with ``edit`` applied to the recipe's entry under the chain's ``recipes:`` and ``text_edit`` to the recipe."""
    chain = yaml.safe_load((ROOT / "recipes" / "reproduce" / "yelp5.yaml").read_text(encoding="utf-8"))
    edit(chain["recipes"][f"recipes/{recipe}"])
    (tmp_path / "recipes" / "reproduce").mkdir(parents=True, exist_ok=True)
    (tmp_path / "recipes" / "reproduce" / "yelp5.yaml").write_text(yaml.safe_dump(chain, allow_unicode=True),
                                                                    encoding="utf-8")
    path = tmp_path / "recipes" / recipe
    path.write_text(text_edit((ROOT / "recipes" / recipe).read_text(encoding="utf-8")), encoding="utf-8")
    return path


def test_every_report_setting_the_recipe_changes_must_be_listed(tmp_path: Path) -> None:
    def copy(edit: callable, text_edit: callable = str) -> Path:
        return chain_copy(tmp_path, "yelp5_lora.yaml", edit, text_edit)

    changed = copy(lambda entry: None, lambda t: t.replace("\nlearning_rate: 2.0e-4\n", "\nlearning_rate: 1.0e-4\n"))
    code, out = check(changed)
    assert code == 1
    assert ("error: learning_rate: the report has 0.0002, the recipe 0.0001, and "
            f"{tmp_path}/recipes/reproduce/yelp5.yaml recipes: recipes/yelp5_lora.yaml does not list it under "
            "differences (add `learning_rate: why`)") in out
    code, out = check(copy(lambda entry: entry["differences"].update(cutoff_len="shorter")))
    assert code == 1 and "error: cutoff_len is listed as a difference but the recipe has the report's value 256" in out
    code, out = check(copy(lambda entry: entry["differences"].pop("lora_target")))
    assert "error: lora_target: the report has 'query,value', the recipe 'q_proj,v_proj'" in out
    code, out = check(copy(lambda entry: entry.pop("settings")))
    assert "recipes: recipes/yelp5_lora.yaml has no settings: (one `key: value` line per setting" in out
    code, out = check(copy(lambda entry: entry.update(global_batch="16 per device x 2 accumulation x 1 GPU = 32")))
    assert (f"error: {tmp_path}/recipes/reproduce/yelp5.yaml recipes: recipes/yelp5_lora.yaml says 16 per device "
            "x 2 accumulation but the recipe sets per_device_train_batch_size 16, gradient_accumulation_steps 1") in out
    code, out = check(copy(lambda entry: entry.update(global_batch="16 per device x 1 accumulation x 2 GPUs = 16")))
    assert "recipes/yelp5_lora.yaml's global batch does not add up: 16 x 1 x 2 != 16" in out


def test_shipped_recipes_name_their_report_and_follow_its_settings() -> None:
    from recipekit.recipes.reading import load_recipe

    seeds = {"000", "001", "002", "003", "004"}
    named = set()
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        facts = recipe.facts()
        assert facts.report and facts.report[:3] in seeds, path
        named.add(facts.report[:3])
        assert facts.source.parent == ROOT / "recipes" / "reproduce" and facts.hardware and facts.target, path
        assert len(facts.settings) >= 2, path
        followed = [k for k in facts.settings if k not in facts.differences]
        assert followed, f"{path} follows none of its report's settings"
    assert named == seeds
    agnews = load_recipe(ROOT / "recipes" / "agnews_full.yaml").args
    assert (agnews["gradient_accumulation_steps"], agnews["cutoff_len"], agnews["resize_vocab"]) == (4, 4096, True)
    assert agnews["overwrite_output_dir"] is False and not agnews.get("save_only_model")
    afqmc = load_recipe(ROOT / "recipes" / "afqmc_qlora.yaml").args
    assert (afqmc["lr_scheduler_type"], afqmc["cutoff_len"], afqmc["weight_decay"]) == ("linear", 128, 0.01)
    arena = load_recipe(ROOT / "recipes" / "arena_cls_lora.yaml").args
    assert (arena["num_train_epochs"], arena["per_device_train_batch_size"], arena["learning_rate"]) == (2.0, 4, 2e-5)
    assert not any("trust_remote_code" in load_recipe(p).args for p in recipe_files(ROOT / "recipes"))


def test_trust_remote_code_is_warned_about(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "remote", base_args(trust_remote_code=True))
    _, out = check(path)
    assert "warning: trust_remote_code runs Python code from the model's hub repository" in out


def test_classifier_recipes_are_checked_by_their_own_parser(tmp_path: Path) -> None:
    """recipes/classifier/*.yaml: the classifier's HfArgumentParser refuses unknown keys, labels must hold every
    registered answer, and LoRA under ZeRO-3 is refused before any GPU."""
    from recipekit.converters.catalog import make_fixture_dataset

    make_fixture_dataset("afqmc", tmp_path / "raw", tmp_path / "data")
    source = ROOT / "recipes" / "classifier" / "afqmc_macbert.yaml"
    folder = tmp_path / "recipes" / "classifier"
    folder.mkdir(parents=True)
    changes = {"typo": ("early_stoping_steps: 3", "early_stopping_steps: 3"),
               "labels": ("labels: same,different", "labels: 是,否"),
               "zero3": ("finetuning_type: lora\ndeepspeed: recipes/deepspeed/ds_z3_config.json",
                         "finetuning_type: full")}
    for name, (new, old) in changes.items():
        text = source.read_text(encoding="utf-8")
        assert old in text
        (folder / f"{name}.yaml").write_text(text.replace(old, new), encoding="utf-8")
    code, out = check(*sorted(folder.glob("*.yaml")), "--data-dir", tmp_path / "data")
    blocks = sections(out)
    assert code == 1
    assert "error: unknown key(s) ['early_stoping_steps']: neither classifier settings nor TrainingArguments" \
        in blocks["typo"]
    assert "error: dataset 'afqmc' has answers ['否', '是'] that are not in labels ['different', 'same']" \
        in blocks["labels"]
    assert "error: a LoRA classifier under ZeRO-3 fails in DeepSpeed's hooks" in blocks["zero3"]
    assert "FORCE_TORCHRUN=1 llm-recipes train-classifier" in blocks["zero3"]


def test_unusable_values_and_bytes_that_are_not_utf8_stop_every_command_in_one_line(tmp_path: Path) -> None:
    zero = write_recipe(tmp_path, "zero_batch", base_args(per_device_train_batch_size=0))
    nan = write_recipe(tmp_path, "nan_rate", base_args(learning_rate=float("nan")))
    latin1 = tmp_path / "recipes" / "latin1.yaml"
    latin1.write_bytes(b"stage: sft\nrun_name: caf\xe9\n")
    expected = {zero: f"error: {zero}: per_device_train_batch_size is 0: it must be a whole number, at least 1",
                nan: f"error: {nan}: learning_rate is nan: it must be a finite number",
                latin1: f"error: {latin1}:2: not valid UTF-8 at byte 24 (b'\\xe9': invalid continuation byte); save "
                        "it as UTF-8"}
    for path, line in expected.items():
        for command in (["check", "recipes"], ["plan", "--gpu", "h100"], ["smoke"]):
            result = run_cli(*command, path)
            assert (result.returncode, result.stderr) == (2, line + "\n"), (command, path)


@pytest.mark.integration
def test_recipes_that_cannot_be_read_do_not_hide_the_others(tmp_path: Path) -> None:
    """Two unusable recipes beside a good one: the good one is still checked and listed; the two are named, and
    the run ends in one error line, exit 2."""
    demo = (ROOT / "recipes" / "demo" / "agnews_tiny_sft.yaml").read_text(encoding="utf-8")
    (tmp_path / "a_zero.yaml").write_text(demo.replace("per_device_train_batch_size: 32",
                                                       "per_device_train_batch_size: 0"), encoding="utf-8")
    (tmp_path / "b_good.yaml").write_text(demo, encoding="utf-8")
    (tmp_path / "c_nan.yaml").write_text(demo.replace("learning_rate: 3.0e-3", "learning_rate: .nan"),
                                         encoding="utf-8")
    done = run_cli("check", "recipes", *sorted(tmp_path.glob("*.yaml")))
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: 2 recipe(s) could not be read, the first: {tmp_path / 'a_zero.yaml'}: per_device_train_batch_size "
        "is 0: it must be a whole number, at least 1"]
    assert f"{tmp_path / 'b_good.yaml'}: " in done.stdout and "1 recipe(s) checked" in done.stdout
    assert f"{tmp_path / 'c_nan.yaml'}: not read: learning_rate is nan" in done.stdout
