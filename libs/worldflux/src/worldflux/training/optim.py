"""Optimizers built from a model's OptimizerSpec and parameter groups, including LaProp."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from worldflux.core.errors import ContractError
from worldflux.core.model import OptimizerSpec, WorldModel

OPTIMIZERS = ("adam", "adamw", "laprop")


class LaProp(torch.optim.Optimizer):
    """LaProp (Ziyin et al. 2020) as DreamerV3 uses it: RMS normalisation, then momentum.

    Adam applies momentum to the raw gradient and divides afterwards; LaProp divides each
    gradient by the running RMS first and averages the normalised gradients, which decouples
    the momentum from the adaptivity. Both moments are bias-corrected, as in DreamerV3's
    scale_by_rms followed by scale_by_momentum. Weight decay, if any, is decoupled (AdamW).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 4e-5,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-20,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"invalid LaProp settings lr={lr} eps={eps} wd={weight_decay}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"LaProp betas must be in [0, 1), got {betas}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, decay = group["eps"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                step = float(state["step"])
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = (exp_avg_sq / (1.0 - beta2**step)).sqrt_().add_(eps)
                exp_avg.mul_(beta1).addcdiv_(grad, denom, value=1.0 - beta1)
                if decay:
                    param.mul_(1.0 - lr * decay)
                param.add_(exp_avg, alpha=-lr / (1.0 - beta1**step))
        return loss


def parameter_groups(model: WorldModel, spec: OptimizerSpec) -> list[dict[str, Any]]:
    """The model's groups with lr = spec.lr * lr_scale; every trainable parameter exactly once."""
    groups = []
    seen: set[int] = set()
    for index, group in enumerate(model.parameter_groups()):
        params = [p for p in group["params"] if p.requires_grad]
        for p in params:
            if id(p) in seen:
                raise ContractError(f"parameter group {index} repeats a parameter of another group")
            seen.add(id(p))
        scale = float(group.get("lr_scale", 1.0))
        if scale < 0:
            raise ContractError(f"parameter group {index} has a negative lr_scale {scale}")
        extra = {k: v for k, v in group.items() if k not in ("params", "lr_scale")}
        groups.append({**extra, "params": params, "lr": spec.lr * scale, "lr_scale": scale})
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if missing:
        raise ContractError(
            f"{type(model).__name__}.parameter_groups() leaves trainable parameters out: "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''} (set requires_grad=False to freeze)"
        )
    return [g for g in groups if g["params"]]


def build_optimizer(
    model: WorldModel, spec: OptimizerSpec | None = None, capturable: bool = False
) -> torch.optim.Optimizer:
    """The optimizer the spec names; `capturable` keeps Adam's step count on the GPU so that a
    CUDA graph can record the step (TrainerConfig.cuda_graph)."""
    spec = spec or model.optimizer_spec()
    groups = parameter_groups(model, spec)
    kwargs: dict[str, Any] = {"lr": spec.lr, "betas": tuple(spec.betas), "eps": spec.eps}
    if capturable:
        kwargs["capturable"] = True
    if spec.name == "adam":
        return torch.optim.Adam(groups, weight_decay=spec.weight_decay, **kwargs)
    if spec.name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=spec.weight_decay, **kwargs)
    if spec.name == "laprop":
        return LaProp(groups, weight_decay=spec.weight_decay, **kwargs)  # type: ignore[arg-type]
    raise ContractError(f"unknown optimizer {spec.name!r}; expected one of {OPTIMIZERS}")
