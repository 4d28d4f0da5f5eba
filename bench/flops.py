"""How much arithmetic a BERT-style encoder does per message, and how fast this machine multiplies.

Only the matrix products are counted: they are nearly all of the work, and they are what the
machine's measured matmul rate bounds. Per token, each linear layer costs 2 x its weight count
(one multiply and one add per weight); per sequence of T tokens, attention scores (Q @ K^T) and
the weighted sum of values (P @ V) cost 2 x T^2 x hidden each per layer. Embedding look-ups,
layer norms, softmax, GELU and the pooler are left out (well under 1% at these lengths), so the
bound derived from these counts is slightly generous to the model, never stingy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class EncoderShape:
    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_config(cls, config: Any) -> EncoderShape:
        """Read the sizes from a Hugging Face BERT-family config."""
        return cls(
            layers=int(config.num_hidden_layers),
            hidden=int(config.hidden_size),
            intermediate=int(config.intermediate_size),
        )

    @property
    def linear_weights(self) -> int:
        """Weights of the matrices every token goes through: Q, K, V, output, and the FFN pair."""
        per_layer = 4 * self.hidden * self.hidden + 2 * self.hidden * self.intermediate
        return self.layers * per_layer

    def sequence_flops(self, tokens: int) -> int:
        """Matmul FLOPs to encode one sequence of ``tokens`` tokens (padding included, if any)."""
        linear = 2 * self.linear_weights * tokens
        attention = 4 * self.layers * tokens * tokens * self.hidden
        return linear + attention

    def flops(self, lengths: Sequence[int]) -> int:
        """Total matmul FLOPs for sequences of the given lengths."""
        return sum(self.sequence_flops(t) for t in lengths)


@dataclass(frozen=True)
class MatmulRate:
    size: int
    dtype: str
    gflops: float  # best of the timed rounds
    rounds: int


def measure_matmul(
    size: int, device: torch.device, dtype: torch.dtype, rounds: int = 5, per_round: int = 0
) -> MatmulRate:
    """Best GFLOP/s of ``size`` x ``size`` products on ``device`` at the current thread count.

    Best rather than median: the bound is meant to be what the hardware can do, and other work
    on the machine only ever slows a round down.
    """
    flops_each = 2 * size**3
    # About 0.2 s of work per round at 100 GFLOP/s, whatever the size.
    per_round = per_round or max(1, int(2e10 // flops_each))
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # first call pays for allocation and kernel selection
    _sync(device)
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(per_round):
            torch.mm(a, b, out=out)
        _sync(device)
        elapsed = time.perf_counter() - started
        best = max(best, flops_each * per_round / elapsed / 1e9)
    return MatmulRate(size, str(dtype).removeprefix("torch."), round(best, 1), rounds)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
