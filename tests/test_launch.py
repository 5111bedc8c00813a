"""The launcher: the argv of a command module and of its torchrun launch on N ranks, the environment that asks
for one, and what a failing launch's one line says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.recipes.reading import Recipe
from recipekit.recipes.tiny_run import launch_env
from recipekit.steps import module_command, run_child, run_logged, torchrun_command, torchrun_env


@pytest.mark.parametrize(("name", "module"), [("gen_report", "recipekit.commands.gen_report"),
                                              ("agnews", "recipekit.converters.agnews"),
                                              ("recipekit.plan.probe", "recipekit.plan.probe")])
def test_a_module_runs_in_this_interpreter(name: str, module: str) -> None:
    assert module_command(name) == [sys.executable, "-m", module]
    assert importlib.util.find_spec(module) is not None


def test_a_torchrun_launch_carries_the_ranks_nodes_and_rendezvous_of_its_environment() -> None:
    from torch.distributed.run import get_args_parser

    env = {**torchrun_env(4), "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.2", "MASTER_PORT": "29555"}
    command = torchrun_command([*module_command("train_classifier"), "r.yaml", "num_train_epochs=1"], env)
    assert command == [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--node_rank=1",
                       "--nproc_per_node=4", "--master_addr=10.0.0.2", "--master_port=29555", "-m",
                       "recipekit.commands.train_classifier", "r.yaml", "num_train_epochs=1"]
    args = get_args_parser().parse_args(command[3:])  # as torchrun itself reads it
    assert (args.nproc_per_node, args.nnodes, args.node_rank) == ("4", "2", 1)
    assert (args.master_addr, args.master_port, args.module) == ("10.0.0.2", 29555, True)
    assert [args.training_script, *args.training_script_args] == [
        "recipekit.commands.train_classifier", "r.yaml", "num_train_epochs=1"]


def test_torchrun_only_when_asked_and_not_from_inside_a_rank() -> None:
    probe = module_command("recipekit.plan.probe")
    assert torchrun_env(2) == {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "2"}
    assert torchrun_command(probe, {}) is None
    assert torchrun_command(probe, {"FORCE_TORCHRUN": "0", "NPROC_PER_NODE": "2"}) is None
    assert torchrun_command(probe, {**torchrun_env(2), "LOCAL_RANK": "0"}) is None  # a rank: run here
    one = torchrun_command(probe, {"FORCE_TORCHRUN": "true"})
    assert one is not None and one[3:8] == ["--nnodes=1", "--node_rank=0", "--nproc_per_node=1",
                                            "--master_addr=127.0.0.1", one[7]]
    assert 0 < int(one[7].removeprefix("--master_port=")) < 65536  # a free port of this machine


def test_a_tiny_run_of_a_deepspeed_recipe_asks_for_two_cpu_ranks() -> None:
    deepspeed = Recipe(Path("r.yaml"), {"deepspeed": "recipes/deepspeed/ds_z2_config.json"})
    assert launch_env(deepspeed) == {"WANDB_MODE": "offline", "LLAMAFACTORY_VERBOSITY": "WARN", "FORCE_TORCHRUN": "1",
                                     "NPROC_PER_NODE": "2"}
    lora = Recipe(Path("r.yaml"), {"finetuning_type": "lora"})
    assert launch_env(lora) == {"WANDB_MODE": "offline", "LLAMAFACTORY_VERBOSITY": "WARN"}


RANK = """import os, pathlib, sys
rank, world = os.environ["RANK"], os.environ["WORLD_SIZE"]
pathlib.Path(sys.argv[1], f"rank{rank}").write_text(f"{world} {os.environ['MASTER_PORT']}")
if int(rank) == int(world) - 1:
    raise ValueError(f"rank {rank} of {world} refuses")
"""


@pytest.mark.integration
def test_a_launch_on_three_ranks_starts_three_and_its_failure_is_the_ranks_own_line(tmp_path: Path) -> None:
    package = tmp_path / "ranked"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "probe.py").write_text(RANK)
    out = tmp_path / "out"
    out.mkdir()
    command = torchrun_command([*module_command("ranked.probe"), str(out)], torchrun_env(3))
    assert command is not None
    port = command[7].removeprefix("--master_port=")
    log = tmp_path / "logs" / "ranks.log"
    with pytest.raises(InputError) as caught:
        run_logged(command, log, {"PYTHONPATH": str(tmp_path)})
    assert str(caught.value) == (f"{log}: {sys.executable} -m torch.distributed.run failed (exit 1): "
                                 "ValueError: rank 2 of 3 refuses")
    assert {p.name: p.read_text() for p in out.iterdir()} == {f"rank{r}": f"3 {port}" for r in range(3)}
    assert run_child([sys.executable, "-c", "raise SystemExit(3)"]) == 3  # output here, its exit code back
