"""Held-out representation prediction: the prediction metric of joint-embedding families.

`representation`: squared error of the features a model predicts for held-out targets, for
models with `predict_targets(obs [B, T, ...], actions [B, H, ...], context_end) -> {"predicted",
"target", "context"}` (each [M, D] over the M target tokens of the window, in the model's own
target space). The model picks the targets (masked blocks of a held-out frame, or the frames
after the context) and is given the window's true or shuffled future actions. Baselines:

- `mean`: the mean target feature (over the window's targets: fitted on the very data it is
  scored on, so a stronger baseline than one fitted on the training split);
- `context`: the context feature of the same position, as the model defines it (its context
  encoder's feature at that position with the target hidden, or the last observed frame's
  feature at that position for a model that predicts future frames).

Any further tensor a model returns beside these three is one more baseline under its own name
(V-JEPA 2-AC's `position_mean`: the mean target feature of each patch position).

A collapsed encoder makes every target equal to the mean, so it never shows skill here.
"""

from __future__ import annotations

import torch

from worldflux.gates.skill import Baselines, ErrorSums, Predictions, Window, _sse, register_metric


def representation_metric(
    window: Window, pred: Predictions, baselines: Baselines
) -> ErrorSums | None:
    del baselines
    model = pred.model
    capability = getattr(model, "predict_targets", None)
    if model is None or not callable(capability) or pred.actions is None:
        return None
    if window.context_end + 1 >= window.batch.seq_len:
        return None
    out = capability(window.batch.obs, pred.actions, window.context_end)
    target = out["target"].float()
    rows = torch.ones(target.shape[0], 1, dtype=torch.bool, device=target.device)

    def sse(x: torch.Tensor) -> tuple[float, int]:
        return _sse(x.float().unsqueeze(1), target.unsqueeze(1), rows)

    errors = {
        "model": sse(out["predicted"]),
        "mean": sse(target.mean(0, keepdim=True).expand_as(target)),
        "context": sse(out["context"]),
    }
    for name, baseline in out.items():  # a model's further baselines, by name
        if name not in ("predicted", "target", "context"):
            errors[name] = sse(baseline)
    return errors


register_metric("representation", representation_metric)
