"""Per-channel calibration of the sentiment head: a temperature and a class-prior shift.

One temperature for the whole model makes confidences honest on average, but news and chat
differ: news is mostly neutral in tone, so a model trained on both leans to "neutral" on
news and is over-confident there. Each channel therefore gets its own temperature ``T`` and
bias ``b`` (one per class), fitted by minimum negative log-likelihood on a held-out slice:

    p(class | text, channel) = softmax(logits / T + b)

The bias is the log of how much more (or less) often a class is right on that channel than
the raw model thinks: it moves the decision, not only the confidence. A channel with too few
held-out examples keeps the global temperature (no bias). Calibrations live in the version's
``heads.json``, so they are covered by the registry checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

MIN_EXAMPLES = 30  # fewer held-out labels than this for a channel: keep the global temperature
BIAS_PENALTY = 0.01  # a little L2 on the bias keeps a small slice from over-steering the prior


@dataclass(frozen=True)
class ChannelCalibration:
    """How one channel's raw sentiment logits become probabilities."""

    temperature: float
    bias: tuple[float, ...]
    examples: int = 0

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated logits (any leading shape, classes last)."""
        shifted: np.ndarray = logits / self.temperature + np.asarray(self.bias, dtype=logits.dtype)
        return shifted

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": round(self.temperature, 5),
            "bias": [round(b, 5) for b in self.bias],
            "examples": self.examples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelCalibration:
        return cls(
            float(data["temperature"]),
            tuple(float(b) for b in data["bias"]),
            int(data.get("examples", 0)),
        )


def fit_channel_calibration(
    logits: torch.Tensor, labels: torch.Tensor, bias: tuple[float, ...] | None = None
) -> ChannelCalibration:
    """Temperature and class bias minimising the NLL of ``labels`` (class indices) given raw
    ``logits`` (n, classes). With ``bias`` given, only the temperature is fitted and the bias
    is kept: for labels whose class mix is not the channel's (a retrain's label stream)."""
    logits = logits.detach().float()
    log_t = torch.zeros((), requires_grad=True)
    shift = torch.tensor(bias) if bias is not None else torch.zeros(logits.shape[1])
    shift.requires_grad_(bias is None)
    fitted = [log_t] if bias is not None else [log_t, shift]
    optimizer = torch.optim.LBFGS(fitted, lr=0.5, max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp() + shift, labels)
        loss = loss + BIAS_PENALTY * (shift - shift.mean()).pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    centred = (shift - shift.mean()).detach()
    return ChannelCalibration(
        float(log_t.detach().exp()), tuple(float(b) for b in centred), examples=len(labels)
    )
