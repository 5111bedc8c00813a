"""What one simulated training step measured (recipekit/plan/simulate.py runs it, recipekit/plan/stack.py deepens
it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Simulation:
    """What the step measured: parameter counts, bytes by kind at the peak, FLOPs."""

    params: int
    trainable: int
    largest_layer: int
    quantizable: int
    peak: dict[str, int] = field(default_factory=dict)  # MemTracker's kinds at the step's peak
    flops: int = 0
    seconds: float = 0.0
    kernels: list[list[int]] = field(default_factory=list)  # [FLOPs, bytes, count] of the step's operations
    # the kinds at the peaks of the forward, the backward above the first layer and that layer's backward ("bottom")
    phases: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def activation_bytes(self) -> int:
        """Activations and temporaries at the peak: what the batch adds on top of the model states."""
        return self.peak.get("ACT", 0) + self.peak.get("TEMP", 0)
