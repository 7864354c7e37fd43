"""The Q-function ensemble, vectorised: every member's weights stacked along a leading dim.

All members run as one batched matmul per layer instead of a Python loop over modules, which
is what makes a 5- or 8-member ensemble cost about as much as one wide MLP. The Polyak-averaged
target copy lives here too, as buffers: it is saved with the model but never optimised and not
counted as a parameter (the paper's parameter counts exclude it).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


class QEnsemble(nn.Module):
    """`num_members` MLPs in -> hidden -> hidden -> out (NormedLinear, Mish; dropout on layer 0).

    Parameters per layer i: weight_i [E, in, out], bias_i [E, out] and, for hidden layers,
    norm_weight_i / norm_bias_i [E, out] (each member's LayerNorm affine).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: list[int],
        out_dim: int,
        num_members: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_members = num_members
        self.dropout = dropout
        self.dims = [in_dim, *hidden, out_dim]
        self.num_layers = len(self.dims) - 1
        for i, (fan_in, fan_out) in enumerate(pairwise(self.dims)):
            self.register_parameter(
                f"weight_{i}", nn.Parameter(torch.empty(num_members, fan_in, fan_out))
            )
            self.register_parameter(f"bias_{i}", nn.Parameter(torch.empty(num_members, fan_out)))
            if i < self.num_layers - 1:
                self.register_parameter(
                    f"norm_weight_{i}", nn.Parameter(torch.ones(num_members, fan_out))
                )
                self.register_parameter(
                    f"norm_bias_{i}", nn.Parameter(torch.zeros(num_members, fan_out))
                )
        self.reset_parameters()
        for name, param in self.named_parameters():
            self.register_buffer(f"target_{name}", param.detach().clone())

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Official init: trunc-normal(0.02) weights, zero biases, zero output weights."""
        for i in range(self.num_layers):
            weight = getattr(self, f"weight_{i}")
            if weight.is_meta:
                continue
            if i == self.num_layers - 1:
                weight.zero_()
            else:
                nn.init.trunc_normal_(weight, std=0.02)
            getattr(self, f"bias_{i}").zero_()

    def online_params(
        self, detach: bool = False, members: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The online weights (optionally cut from the graph, or only the given members)."""
        out = {n: (p.detach() if detach else p) for n, p in self.named_parameters()}
        return out if members is None else {n: p[members] for n, p in out.items()}

    def target_params(self, members: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = {n: getattr(self, f"target_{n}") for n, _ in self.named_parameters()}
        return out if members is None else {n: p[members] for n, p in out.items()}

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """Polyak averaging: target <- (1 - tau) * target + tau * online."""
        for name, param in self.named_parameters():
            getattr(self, f"target_{name}").lerp_(param.detach(), tau)

    def forward(
        self,
        x: torch.Tensor,
        params: Mapping[str, torch.Tensor] | None = None,
        dropout: bool | None = None,
    ) -> torch.Tensor:
        """x [..., in] (shared by all members) -> logits [E, ..., out].

        `params` swaps in other weights of the same shapes (targets, detached copies);
        `dropout` defaults to the module's training mode.
        """
        p = params if params is not None else self.online_params()
        use_dropout = self.training if dropout is None else dropout
        members = p["weight_0"].shape[0]  # a subset when the caller passes selected members
        lead = x.shape[:-1]
        h = x.reshape(1, -1, x.shape[-1])  # [1, M, in]: broadcast over members
        for i in range(self.num_layers):
            # [1 or E, M, in] @ [E, in, out] + [E, 1, out] -> [E, M, out]
            h = torch.baddbmm(
                p[f"bias_{i}"].unsqueeze(1),
                h.expand(members, -1, -1),
                p[f"weight_{i}"],
            )
            if i < self.num_layers - 1:
                if i == 0 and self.dropout and use_dropout:
                    h = F.dropout(h, self.dropout, training=True)
                h = F.layer_norm(h, h.shape[-1:])
                h = h * p[f"norm_weight_{i}"].unsqueeze(1) + p[f"norm_bias_{i}"].unsqueeze(1)
                h = F.mish(h)
        return h.reshape(members, *lead, h.shape[-1])

    def extra_repr(self) -> str:
        return f"members={self.num_members}, dims={self.dims}, dropout={self.dropout}"
