"""Evaluation that computes and draws nothing: predictions read once, label sets, classification metrics,
label probabilities and calibration, generation metrics (LLaMA-Factory's and corpus-level), label scoring."""
