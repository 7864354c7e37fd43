"""Novel-view prediction: the prediction metric of scene-rendering families, asked of a model
capability, never a family.

`novel_view`: squared error of the views a model renders for held-out camera poses, for models
with `camera_poses(actions [B, H, A]) -> poses [B, H]` (where the actions move the camera) and
`render(state, ConditionPayload(camera_pose=poses [B])) -> frames [B, *obs_shape]`. The model
sees the window's context (its posterior after step c) and renders the frames c+1 .. c+H from
the poses the window's (true or shuffled) actions set; targets are only the frames of the same
episode as the last observed frame (the same scene). Baselines:

- `mean`: the training split's mean frame;
- `copy_input`: the last observed view o_c itself (right wherever the view hardly changes).

A model that has not learned the scene in 3D stays near the mean frame; one that ignores the
pose is at best the input view, so skill needs the scene and the camera both.
"""

from __future__ import annotations

import torch

from worldflux.core import ConditionPayload
from worldflux.gates.skill import Baselines, ErrorSums, Predictions, Window, _sse, register_metric


def same_scene(window: Window) -> torch.Tensor:
    """[B, H]: frame c+1+h belongs to the episode of frame c (no episode start in between)."""
    batch, c, h = window.batch, window.context_end, window.horizon
    starts = batch.is_first[:, c + 1 : c + 1 + h].bool().cpu()
    return ~starts.cumsum(1).bool() & window.valid.cpu()


def novel_view_metric(window: Window, pred: Predictions, baselines: Baselines) -> ErrorSums | None:
    model = pred.model
    render = getattr(model, "render", None)
    poses_of = getattr(model, "camera_poses", None)
    if not callable(render) or not callable(poses_of):
        return None
    if pred.state is None or pred.actions is None:
        return None
    batch, c, h = window.batch, window.context_end, window.horizon
    poses = poses_of(pred.actions)  # [B, H]
    views = torch.stack(
        [render(pred.state, ConditionPayload(camera_pose=poses[:, k])) for k in range(h)], 1
    )
    target = batch.obs[:, c + 1 : c + 1 + h].float()
    mask = same_scene(window).to(target.device)
    seen = batch.obs[:, c : c + 1].float().expand_as(target)
    return {
        "model": _sse(views.to(target.device), target, mask),
        "mean": _sse(baselines.obs_mean.to(target.device).expand_as(target), target, mask),
        "copy_input": _sse(seen, target, mask),
    }


register_metric("novel_view", novel_view_metric)
