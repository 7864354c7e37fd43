"""The Renderer3D loss: infer the scene from one frame of known pose, render every frame of the
same episode in the window at its own pose (multi-view supervision), and predict the rewards.

A frame's pose is known from the action before it (pose(o_t) = azimuth_scale * a_{t-1}; an
episode's first frame has azimuth 0, and the padding action before it is 0 too), so the scene
is inferred from frame 1 of the window and frames 1 .. T-1 of that episode are rendered. The
encoded view teaches colour and what is background; only the other views teach depth, so they
are what makes the scene three-dimensional.

Components: `render` (all those frames), `reward` (the reward head on the detached rendered
frames, the frames it reads in imagination). Metric `novel_view_error`: the error on the frames
other than the encoded one (views the encoder never saw).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worldflux.core import Batch, ContractError, LossOutput

if TYPE_CHECKING:
    from worldflux.models.renderer3d.model import Renderer3D


def renderer3d_loss(model: Renderer3D, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.check_actions(batch.actions).to(model.device)
    if obs.shape[1] < 3:
        raise ContractError(
            f"renderer3d's loss needs windows of at least 3 frames (one encoded, one other "
            f"view), got {obs.shape[1]}"
        )
    poses = c.azimuth_scale * actions[:, :-1, 0]  # poses of frames 1 .. T-1
    frames = obs[:, 1:]
    is_first = batch.is_first.float().to(model.device)
    episode = is_first.cumsum(1)[:, 1:]
    same = (episode == episode[:, :1]).float()  # [B, T-1]: frame in the encoded frame's episode
    scene = model.infer_scene(frames[:, 0], poses[:, 0])
    scenes = scene[:, None].expand(-1, frames.shape[1], -1)
    rendered = model.render_scene(scenes, poses)
    error = (rendered - frames).square().mean((2, 3, 4))  # [B, T-1]
    render_loss = (error * same).sum() / same.sum()
    novel = same[:, 1:]
    novel_error = (error[:, 1:].detach() * novel).sum() / novel.sum().clamp(min=1.0)
    # Row t's reward belongs to frame t + 1 (rendered[:, t]); row 0 is an episode's padding
    # row when frame 1 starts a new episode.
    keep = same * (1.0 - is_first[:, 1:])
    predicted = model.reward_of(rendered.detach())
    reward_err = (predicted - batch.rewards[:, :-1].float().to(model.device)).square()
    reward = (reward_err * keep).sum() / keep.sum().clamp(min=1.0)
    total = render_loss + c.reward_coef * reward
    return LossOutput(
        total,
        {"render": render_loss, "reward": reward},
        {"novel_view_error": float(novel_error)},
    )
