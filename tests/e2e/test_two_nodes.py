"""A two-node launch, exercised: two `llamafactory-cli train` processes, one per "node" (torchrun --nnodes 2, one
process each, rendezvous on 127.0.0.1), train a tiny ZeRO-3 recipe together; and the launch variables a user sets
for a multi-node reproduction reach every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from recipekit.commands.smoke_recipe import Smoke
from recipekit.steps import Runner, Step, free_port, tool_env

LAUNCH = ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.mark.slow  # two 2-step ZeRO-3 runs of a tiny Llama: about a minute
def test_two_nodes_train_a_zero3_recipe_together(tmp_path: Path) -> None:
    work = tmp_path / "smoke"
    Smoke(work, steps=2).add(ROOT / "recipes" / "agnews_full.yaml")  # the smoke's tiny model, data and recipe
    config = yaml.safe_load((work / "recipes" / "agnews_full.yaml").read_text(encoding="utf-8"))
    assert "ds_z3" in config["deepspeed"]
    out = tmp_path / "two_nodes"
    recipe = tmp_path / "two_nodes.yaml"
    recipe.write_text(yaml.safe_dump({**config, "output_dir": str(out)}), encoding="utf-8")
    port = free_port()
    cli = str(Path(sys.executable).with_name("llamafactory-cli"))
    nodes = []
    for rank in (0, 1):
        env = tool_env({"FORCE_TORCHRUN": "1", "NNODES": "2", "NODE_RANK": str(rank), "NPROC_PER_NODE": "1",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "WANDB_MODE": "offline",
                        "WANDB_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"})
        log = (tmp_path / f"node{rank}.log").open("w", encoding="utf-8")
        nodes.append((subprocess.Popen([cli, "train", str(recipe)], cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT), log))
    for child, log in nodes:
        child.wait(timeout=900)
        log.close()
    logs = [(tmp_path / f"node{rank}.log").read_text(encoding="utf-8") for rank in (0, 1)]
    assert [child.returncode for child, _ in nodes] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    for rank in (0, 1):  # LLaMA-Factory's launcher on each node; torchrun lets neither start before both joined
        assert f"Multi-node training enabled: num nodes: 2, node rank: {rank}" in logs[rank]
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == config["max_steps"]


@pytest.mark.integration
def test_a_reproductions_launch_variables_reach_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "29555"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    show = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {LAUNCH!r}}}))"
    outcome = Runner(tmp_path / "logs").execute(Step("train", [sys.executable, "-c", show], {"FORCE_TORCHRUN": "1"}))
    assert json.loads(Path(outcome.log).read_text(encoding="utf-8")) == values
    assert os.environ["NODE_RANK"] == "1"
