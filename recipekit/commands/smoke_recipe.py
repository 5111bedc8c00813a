"""Run recipes for real for 2 steps on a tiny local model and a small sample of the same data format.

Classifier recipes (recipes/classifier/) run through scripts/train_classifier.py on a tiny encoder (BERT or
DeBERTa-v2) or decoder of their family and must write their predictions_<set>.jsonl files.

Each recipe keeps its stage, fine-tuning type, LoRA settings and targets (the tiny Llama/Qwen2 model has the
same q/k/v/o/gate/up/down_proj module names), DPO settings and DeepSpeed config (run with FORCE_TORCHRUN=1 on
2 CPU ranks). Swapped: the model (a tiny model of the same family, with its template's special tokens), the
data (fixtures in the dataset's raw format, made by its own converter), paths, steps (max_steps 2), sequence
length (at most 512) and batch sizes (at most 2); a dataset of no fixture (your own, registered in the recipe's
dataset_dir) runs on a seeded sample of its own rows. Dropped where this machine cannot run them, with a note:
bf16/fp16 and 4-bit quantisation on a machine without CUDA/bitsandbytes. A recipe that needs another's
output (an adapter, a trained model) runs that recipe first. Predict recipes run predict and must write
generated_predictions.jsonl; wandb runs offline and its run folder is checked. Exit 1 on any failure.

Example:
    llm-recipes smoke recipes/yelp5_lora.yaml recipes/yelp5_predict.yaml
    llm-recipes smoke recipes/*.yaml recipes/classifier/*.yaml --work outputs/smoke
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recipekit.cli import at_least, script_parser
from recipekit.converters.catalog import make_fixture_dataset, spec_for
from recipekit.errors import InputError, exit_on_input_error
from recipekit.paths import at_root, shown
from recipekit.progress import working
from recipekit.recipes.reading import Recipe, load_recipe, producers
from recipekit.recipes.tiny_run import (
    TINY_ROWS,
    hub_or_made,
    launch_env,
    make_tiny_model,
    sample_dataset,
    tiny_args,
    tiny_family,
)
from recipekit.steps import Step, module_command, program, run_logged


@dataclass
class Planned:
    """One recipe's smoke run: the runner's step, the recipe with its tiny arguments and what to say about it."""

    step: Step
    run: Recipe
    notes: list[str]


class Smoke:
    """One smoke session: a work folder, the tiny models, the converted data, and the list of steps (each recipe
    after the recipes whose output it needs) that the runner then runs."""

    def __init__(self, work: Path, steps: int, given: list[Path] | None = None) -> None:
        self.work, self.steps = work.resolve(), steps
        self.data = self.work / "data"
        self.models: dict[tuple[str, str], Path] = {}
        self.outputs: dict[Path, Path] = {}  # recipe -> its smoke output_dir
        self.planned: list[Planned] = []
        self.made_by = producers(given or [])

    def dataset(self, name: str, recipe: Recipe) -> bool:
        """Make dataset ``name`` in the smoke data folder: its fixture through its converter, else a sample of the
        recipe's own registered rows; True for the latter (its media stay where the recipe has them)."""
        spec = spec_for(name)
        if spec is None:
            sample_dataset(name, recipe.data_dir(), self.data)
            return True
        if not (self.data / f"{name}.jsonl").exists():
            make_fixture_dataset(spec.name, self.work / "raw", self.data)
        return False

    def tiny_model(self, recipe: Recipe) -> Path:
        """A tiny model of the recipe's family with its template's special tokens."""
        arch, template = tiny_family(recipe)
        key = (arch, template)
        if key not in self.models:
            self.models[key] = make_tiny_model(self.work / "models" / f"{arch}_{template}", arch, template,
                                               self.data, self.work / f"model_{arch}.log")
        return self.models[key]

    def swapped(self, recipe: Recipe, notes: list[str]) -> dict[str, Any]:
        """The recipe's arguments for its smoke run (another recipe's output it needs is planned first)."""
        own = [self.dataset(name, recipe) for name in recipe.datasets()]
        for adapter in recipe.adapters():  # planned first: its data, its model
            if adapter.rstrip("/") in self.made_by:
                self.add(self.made_by[adapter.rstrip("/")])
        resolve = hub_or_made(self.tiny_model(recipe), self.made_by, self.add, recipe)
        args = tiny_args(recipe, self.data, self.work / "runs" / run_name(recipe), self.steps, resolve, notes)
        if any(own) and not recipe.is_classifier:
            args["media_dir"] = str(at_root(str(recipe.setting("media_dir", None) or recipe.data_dir())).resolve())
        if any(own):
            notes.append(f"data: a sample of {TINY_ROWS} rows of the recipe's own sets ({shown(recipe.data_dir())})")
        return args

    def add(self, path: Path) -> Path:
        """Plan one recipe's smoke run (after those it depends on, once); returns its output folder."""
        path = path.resolve()
        if path in self.outputs:
            return self.outputs[path]
        recipe = load_recipe(path)
        notes: list[str] = []
        args = self.swapped(recipe, notes)
        config = self.work / "recipes" / f"{run_name(recipe)}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
        run = recipe.with_values(args)
        env = {**launch_env(run), "WANDB_DIR": str(self.work), "WANDB_PROJECT": "smoke"}
        if run.deepspeed:
            notes.append("DeepSpeed on 2 CPU ranks (FORCE_TORCHRUN=1 NPROC_PER_NODE=2)")
        if recipe.is_classifier:
            command = [*module_command("train_classifier"), str(config)]
        elif recipe.is_export:
            command = [*module_command("export"), str(config)]
        else:
            command = [program("llamafactory-cli"), "train", str(config)]
        step = Step(run_name(recipe), command, env, inputs=[config], recipe=config, source_recipe=str(shown(path)))
        self.planned.append(Planned(step, run, notes))
        self.outputs[path] = Path(run.output_folder())
        return self.outputs[path]

    def run_all(self) -> None:
        """Run the planned steps in order; after each, check what it left and say so."""
        for planned in self.planned:
            run, notes = planned.run, planned.notes
            start = time.perf_counter()
            print(f"{planned.step.source_recipe}: running ({describe(run)})", flush=True)
            wandb_runs = set(self.work.glob("wandb/offline-run-*"))
            run_logged(planned.step.command, self.work / "logs" / f"{planned.step.name}.log", planned.step.env)
            verify(run, Path(run.output_folder()))
            if "wandb" in str(run.written("report_to", "")) and run.trains:
                new = set(self.work.glob("wandb/offline-run-*")) - wandb_runs
                if not new or not any(run_dir.glob("*.wandb") for run_dir in new):
                    raise InputError("report_to wandb but this run wrote no offline wandb run",
                                     str(self.work / "wandb"))
                notes.append(f"wandb offline run: {sorted(new)[0].name}")
            print(f"{planned.step.source_recipe}: ok in {time.perf_counter() - start:.0f} s ({describe(run)})")
            for note in notes:
                print(f"  note: {note}")


def run_name(recipe: Recipe) -> str:
    """A smoke run's name: the recipe's file name, ``export-`` before an export recipe's (which shares its training
    recipe's name)."""
    return f"export-{recipe.path.stem}" if recipe.is_export else recipe.path.stem


def verify(recipe: Recipe, out: Path) -> None:
    """The run left what it should: weights + trainer state for training, predictions for predict (a classifier:
    one predictions_<set>.jsonl per evaluation and predict set), merged weights and a model card for an export."""
    if recipe.is_export:
        if not (out / "README.md").is_file() or not list(out.glob("*.safetensors")):
            raise InputError("the export wrote no merged weights and model card", str(out))
        return
    if recipe.is_classifier:
        for name in recipe.datasets(*(("eval_dataset", "predict_dataset") if recipe.predicts else ("eval_dataset",))):
            rows = out / f"predictions_{name}.jsonl"
            if not rows.is_file() or not rows.read_text(encoding="utf-8").strip():
                raise InputError(f"the classifier wrote no {rows.name}", str(out))
    if recipe.trains:
        weights = "model.safetensors" if recipe.saves_whole_model else "adapter_model.safetensors"  # LoRA, OFT: peft
        if not list(out.glob(weights)) and not list(out.glob("model-*.safetensors")):
            raise InputError(f"training wrote no {weights}", str(out))
        state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
        if state.get("global_step") != recipe.written("max_steps"):
            raise InputError(f"trained {state.get('global_step')} steps, expected {recipe.written('max_steps')}",
                             str(out))
    if recipe.predicts and not recipe.is_classifier:
        predictions = out / "generated_predictions.jsonl"
        if not predictions.is_file() or not predictions.read_text(encoding="utf-8").strip():
            raise InputError("predict wrote no generated_predictions.jsonl", str(out))


def describe(recipe: Recipe) -> str:
    """One line of what a (tiny) run does: stage, fine-tuning type, targets, DeepSpeed, steps, predict."""
    if recipe.is_export:
        return "export: the adapter merged into its base, with a model card"
    parts = ["classifier" if recipe.is_classifier else f"stage {recipe.stage}", recipe.finetuning_type]
    if recipe.written("lora_target"):
        parts.append(f"lora_target {recipe.written('lora_target')}")
    if recipe.deepspeed:
        parts.append(Path(recipe.deepspeed).stem)
    if recipe.trains:
        parts.append(f"{recipe.written('max_steps')} steps")
    if recipe.predicts:
        parts.append("predict")
    return ", ".join(parts)


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML files")
    parser.add_argument("--work", default=str(at_root("outputs/smoke")), help="work folder (default: outputs/smoke)")
    parser.add_argument("--steps", type=at_least(1), default=2, help="training steps per recipe (default: 2)")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[Path, Path]:
    args = build_parser().parse_args(argv)
    smoke = Smoke(Path(args.work), args.steps, [Path(recipe) for recipe in args.recipes])
    with working(f"preparing {len(args.recipes)} recipe(s): raw fixtures converted, tiny models"):
        for recipe in args.recipes:
            smoke.add(Path(recipe))
    smoke.run_all()
    return smoke.outputs


if __name__ == "__main__":
    main()
