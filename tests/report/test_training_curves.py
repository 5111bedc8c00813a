"""A training run's history read from trainer_state.json or trainer_log.jsonl, its summary, the curves drawn from
it, a sweep's metric by axis, and `llm-recipes plot` run on small run folders written by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from conftest import ascii_locale, run_cli, write_jsonl
from drawn_figures import keep_figures, legend_texts, png_size, points, same, ticks

from recipekit.errors import InputError
from recipekit.report import plots
from recipekit.report.plots import plot_axis, plot_series
from recipekit.report.training import PLOTS, read_history, series, summarise


def state(folder: Path, history: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}), encoding="utf-8")
    return folder


HISTORY = [
    {"step": 1, "epoch": 0.25, "loss": 2.0, "learning_rate": 1e-3, "grad_norm": 3.0},
    {"step": 2, "epoch": 0.5, "loss": 1.5, "learning_rate": 8e-4},
    {"step": 2, "epoch": 0.5, "eval_loss": 1.8, "eval_f1": 0.4},
    {"step": 3, "epoch": 0.75, "loss": 1.7, "learning_rate": 5e-4},
    {"step": 4, "eval_loss": 1.6, "eval_f1": 0.6},  # no epoch: counts as 0
    {"step": 4, "eval_loss": 1.65, "eval_f1": 0.5},
]


def test_trainer_state_gives_the_history_without_its_final_entries_and_the_last_final(tmp_path: Path) -> None:
    finals = [{"step": 3, "train_runtime": 1.0}, {"step": 4, "train_runtime": 12.5, "train_loss": 1.6}]
    run = state(tmp_path / "run", [HISTORY[0], finals[0], HISTORY[1], finals[1]])
    (run / "trainer_log.jsonl").write_text('{"current_steps": 9, "loss": 9.0}\n', encoding="utf-8")  # not read
    assert read_history(run) == ([HISTORY[0], HISTORY[1]], finals[1])
    assert read_history(state(tmp_path / "none", [HISTORY[0]])) == ([HISTORY[0]], {})


def test_trainer_log_names_become_trainer_state_names(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_jsonl(run / "trainer_log.jsonl", [{"current_steps": 1, "total_steps": 2, "loss": 2.0, "lr": 1e-3},
                                            {"current_steps": 2, "total_steps": 2, "loss": 1.0, "lr": 5e-4}])
    assert read_history(run) == ([{"step": 1, "total_steps": 2, "loss": 2.0, "learning_rate": 1e-3},
                                  {"step": 2, "total_steps": 2, "loss": 1.0, "learning_rate": 5e-4}], {})


def test_a_run_folder_without_a_readable_history_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_history(tmp_path)
    assert str(caught.value) == f"{tmp_path}: no trainer_state.json or trainer_log.jsonl"
    (tmp_path / "trainer_state.json").write_text('{\n"log_history": [\n}', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_history(tmp_path)
    assert (caught.value.message, caught.value.path, caught.value.line) == (
        "not valid JSON (Expecting value)", str(tmp_path / "trainer_state.json"), 3)
    state(tmp_path, {"step": 1})
    with pytest.raises(InputError, match=r"trainer_state.json: no log_history list$"):
        read_history(tmp_path)


def test_a_series_is_the_entries_with_both_the_key_and_a_step() -> None:
    history = [{"step": 1, "loss": 2.0}, {"loss": 9.0}, {"step": 3}, {"step": 4, "loss": 0.5}]
    assert series(history, "loss") == ([1, 4], [2.0, 0.5])
    assert series(history, "eval_loss") == ([], [])


def test_the_summary_of_a_run() -> None:
    summary = summarise(Path("saves/run"), HISTORY, {"train_runtime": 12.5})
    assert summary == {"run": "saves/run", "initial_loss": 2.0, "final_loss": 1.7, "min_loss": 1.5, "steps": 4,
                       "epochs": 0.75, "runtime_s": 12.5, "final_eval_loss": 1.65, "min_eval_loss": 1.6,
                       "final_eval_f1": 0.5, "best_eval_f1": 0.6}


def test_a_dpo_summary_carries_its_first_and_last_reward_accuracy() -> None:
    history = [{"step": 1, "loss": 0.7, "rewards/accuracies": 0.25}, {"step": 2, "loss": 0.6},
               {"step": 3, "loss": 0.65, "rewards/accuracies": 0.75},
               {"step": 4, "loss": 0.5, "rewards/accuracies": 0.5}]
    assert summarise(Path("r"), history, {}) == {
        "run": "r", "initial_loss": 0.7, "final_loss": 0.5, "min_loss": 0.5, "steps": 4, "epochs": 0, "runtime_s": None,
        "dpo": {"first_reward_accuracy": 0.25, "last_reward_accuracy": 0.5}}


def test_a_history_without_training_loss_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        summarise(Path("saves/run"), [{"step": 1, "eval_loss": 1.0}], {})
    assert str(caught.value) == "saves/run: no training loss logged"


def test_one_run_draws_each_key_it_logged_named_by_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    path = plot_series({"sft": HISTORY}, "task_metrics", ("eval_accuracy", "eval_f1", "loss"), tmp_path)
    assert path == tmp_path / "task_metrics.png" and png_size(path)[0] > 0
    ((figure, _),) = saved
    (axis,) = figure.axes
    assert axis.get_title() == "task metrics" and axis.get_xlabel() == "step"
    assert legend_texts(axis) == ["eval_f1", "loss"]
    f1, loss = axis.get_lines()
    assert same(f1.get_xdata(), [2, 4, 4]) and same(f1.get_ydata(), [0.4, 0.6, 0.5])
    assert same(loss.get_xdata(), [1, 2, 3]) and same(loss.get_ydata(), [2.0, 1.5, 1.7])
    assert f1.get_marker() == "o"


def test_several_runs_overlay_each_line_named_by_run_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    long = [{"step": s, "loss": 1.0 / s} for s in range(1, 31)]  # 30 points: no markers
    short = long[:29]  # 29 points: markers
    plot_series({"a": long, "b": short, "c": [{"step": 1}]}, "loss", ("loss", "eval_loss"), tmp_path)
    ((figure, path),) = saved
    assert path == tmp_path / "loss.png"
    axis = figure.axes[0]
    assert legend_texts(axis) == ["a: loss", "b: loss"]
    assert [line.get_marker() for line in axis.get_lines()] == ["None", "o"]
    assert len(axis.get_lines()[0].get_xdata()) == 30


def test_no_logged_key_draws_nothing_and_leaves_no_figure_open(tmp_path: Path) -> None:
    before = plt.get_fignums()
    assert plot_series({"a": HISTORY}, "rewards", PLOTS["rewards"], tmp_path) is None
    assert plt.get_fignums() == before and list(tmp_path.iterdir()) == []


SWEEP = [
    {"point": "p0", "learning_rate": "1e-4", "lora_rank": 8, "accuracy": 0.5, "macro_f1": 0.4, "steps": 10,
     "lf_predict_runtime": 1.0},
    {"point": "p1", "learning_rate": "2e-5", "lora_rank": 8, "accuracy": 0.7, "macro_f1": 0.6, "steps": 10},
    {"point": "p2", "learning_rate": "1e-4", "lora_rank": 16, "accuracy": 0.55},
    {"point": "p3", "learning_rate": "2e-5", "lora_rank": 16, "accuracy": 0.75},
]


def test_a_sweep_axis_draws_one_line_per_combination_of_the_other_axes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    path = plot_axis(SWEEP, "learning_rate", ["2e-5", "1e-4", "6e-6"], "accuracy", tmp_path / "sweep_lr.png")
    assert path == tmp_path / "sweep_lr.png" and png_size(path)[1] > 0
    ((figure, _),) = saved
    (ax,) = figure.axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("accuracy by learning_rate", "learning_rate",
                                                                  "accuracy")
    assert ticks(ax) == ["2e-5", "1e-4", "6e-6"] and list(ax.get_xticks()) == [0, 1, 2]
    assert legend_texts(ax) == ["lora_rank=8", "lora_rank=16"]
    eight, sixteen = ax.get_lines()
    assert same(eight.get_ydata(), [0.7, 0.5, float("nan")]) and same(sixteen.get_ydata(), [0.75, 0.55, float("nan")])
    assert same(eight.get_xdata(), [0, 1, 2]) and eight.get_marker() == "o"


def test_a_single_axis_sweep_names_its_line_by_the_axis_and_draws_no_legend(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    rows = [{"point": "p0", "template": "a" * 17, "final_eval_loss": 1.0, "lf_rouge-l": 3.0},
            {"point": "p1", "template": "b" * 16, "final_eval_loss": 0.5}]
    plot_axis(rows, "template", ["a" * 17, "b" * 16], "final_eval_loss", tmp_path / "t.png")
    ax = saved[0][0].axes[0]
    assert ax.get_legend() is None and [line.get_label() for line in ax.get_lines()] == ["template"]
    assert ticks(ax) == ["a" * 15 + "…", "b" * 16]
    assert same(ax.get_lines()[0].get_ydata(), [1.0, 0.5])


def test_a_trainer_state_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    history = [{"step": 1, "loss": 0.5, "note": "na\u00efve \u4f60\u597d"}, {"step": 1, "train_runtime": 2.0}]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": history}, ensure_ascii=False),
                                                 encoding="utf-8")
    with ascii_locale():
        assert read_history(tmp_path) == ([{"step": 1, "loss": 0.5, "note": "na\u00efve \u4f60\u597d"}],
                                          {"step": 1, "train_runtime": 2.0})


def test_series_are_drawn_on_a_seven_by_four_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    plot_series({"a": HISTORY}, "loss", ("loss",), tmp_path)
    assert tuple(saved[0][0].get_size_inches()) == (7.0, 4.0)


def test_two_other_axes_name_each_line_by_both_and_spacing_in_a_value_is_kept(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    rows = [{"point": f"p{i}", "template": t, "lora_rank": r, "lora_dropout": d, "accuracy": i / 10}
            for i, (t, r, d) in enumerate([("a  b", 8, 0.1), ("c", 8, 0.1), ("a  b", 16, 0.0)])]
    plot_axis(rows, "template", ["a  b", "c"], "accuracy", tmp_path / "t.png")
    figure, _ = saved[0]
    ax = figure.axes[0]
    assert ticks(ax) == ["a  b", "c"] and tuple(figure.get_size_inches()) == (6.0, 4.0)
    assert legend_texts(ax) == ["lora_rank=8, lora_dropout=0.1", "lora_rank=16, lora_dropout=0.0"]
    assert ax.get_legend().get_texts()[0].get_fontsize() == points("small")
    assert same(ax.get_lines()[1].get_ydata(), [0.2, float("nan")])


def test_a_sweep_of_one_point_draws_its_one_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    plot_axis([{"point": "p0", "lora_rank": "8", "accuracy": 0.5}], "lora_rank", ["8"], "accuracy", tmp_path / "r.png")
    (line,) = saved[0][0].axes[0].get_lines()
    assert same(line.get_ydata(), [0.5]) and line.get_label() == "lora_rank"


def trainer_log(folder: Path, rows: list[dict[str, Any]]) -> Path:
    write_jsonl(folder / "trainer_log.jsonl", rows)
    return folder


def test_plot_writes_the_summary_and_a_png_per_series_logged(tmp_path: Path) -> None:
    sft = trainer_log(tmp_path / "a" / "sft", [{"current_steps": 1, "loss": 2.0, "lr": 1e-3},
                                               {"current_steps": 2, "loss": 1.25, "lr": 5e-4, "grad_norm": 1.5},
                                               {"current_steps": 3, "loss": 1.5}])
    dpo = state(tmp_path / "b" / "sft", [{"step": 1, "loss": 0.75, "rewards/accuracies": 0.25},
                                         {"step": 2, "loss": 0.5, "rewards/accuracies": 0.625},
                                         {"step": 2, "train_runtime": 3.5}])
    done = run_cli("plot", sft, dpo, "--out", tmp_path / "out")
    assert (done.returncode, done.stderr) == (0, "")
    out = tmp_path / "out"
    summary = json.loads((out / "training_summary.json").read_text(encoding="utf-8"))
    assert [run["run"] for run in summary["runs"]] == [str(sft), str(dpo)]
    assert summary["runs"][1]["runtime_s"] == 3.5 and summary["runs"][1]["dpo"] == {
        "first_reward_accuracy": 0.25, "last_reward_accuracy": 0.625}
    names = ["loss", "learning_rate", "grad_norm", "reward_accuracy"]
    assert summary["plots"] == {name: str(out / f"{name}.png") for name in names}
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{name}.png" for name in names)
    assert done.stdout.splitlines() == [
        f"{sft}: loss 2.0000 -> 1.5000 (min 1.2500), 3 steps",
        f"{dpo}: loss 0.7500 -> 0.5000 (min 0.5000), 2 steps, reward accuracy 0.250 -> 0.625",
        f"wrote {out / 'training_summary.json'} and " + ", ".join(str(out / f"{name}.png") for name in names)]


def test_plot_writes_into_the_first_run_folder_and_names_two_runs_of_one_name_by_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, plots)
    first = trainer_log(tmp_path / "a" / "run", [{"current_steps": 1, "loss": 2.0}])
    second = trainer_log(tmp_path / "b" / "run", [{"current_steps": 1, "loss": 1.0}])
    done = run_cli("plot", first, second)
    assert done.returncode == 0, done.stderr
    assert (first / "training_summary.json").is_file() and (first / "loss.png").is_file()
    assert legend_texts(saved[0][0].axes[0]) == ["run: loss", f"{second}: loss"]


def test_plot_of_a_folder_without_loss_is_one_line(tmp_path: Path) -> None:
    run = state(tmp_path / "run", [{"step": 1, "learning_rate": 0.1}])
    done = run_cli("plot", run)
    assert done.returncode == 2 and done.stderr == f"error: {run}: no training loss logged\n"
    assert list(run.iterdir()) == [run / "trainer_state.json"]


def test_plot_with_wandb_unconfigured_is_refused_before_any_work(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run = trainer_log(tmp_path / "run", [{"current_steps": 1, "loss": 2.0}])
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("NETRC", raising=False)
    done = run_cli("plot", run, "--wandb")
    assert done.returncode == 2 and done.stderr.startswith("error: --wandb: wandb is not configured")
    assert not (run / "training_summary.json").exists()
