"""The next frame a trained DiT samples depends on the action: on frames where the action
sets how bright one patch of the next frame is (as the pendulum's torque arrow at the pivot
grows with the torque), a short training run makes the sampled frames
with the true actions much closer to the data than with the actions shuffled across the batch
(the gate's action-gain measure), and the same run gives no gain when the action is cut off
from the backbone (the negative control: what the pendulum gates showed before the action
reached the patch tokens, predictions that ignore it)."""

from __future__ import annotations

import torch

from worldflux.core import Batch
from worldflux.models.dit import DiT, DiTConfig

SIZE, PATCH = 16, 4
STEPS = 100


def transitions(n: int, generator: torch.Generator) -> Batch:
    """Frame 0: a dim dot somewhere; frame 1: the same, and the top-left patch lit as bright
    as the action in [-1, 1] says ((a + 1) / 2)."""
    obs = torch.zeros(n, 2, 3, SIZE, SIZE)
    rows = torch.randint(PATCH, SIZE, (n,), generator=generator)
    cols = torch.randint(0, SIZE, (n,), generator=generator)
    obs[torch.arange(n), :, :, rows, cols] = 0.3
    actions = torch.rand(n, 2, 1, generator=generator) * 2 - 1
    obs[:, 1, :, :PATCH, :PATCH] = ((actions[:, 0, 0] + 1) / 2)[:, None, None, None]
    is_first = torch.tensor([True, False]).expand(n, 2)
    return Batch(obs, actions, torch.zeros(n, 2), torch.ones(n, 2), is_first)


def trained(cut_action: bool) -> DiT:
    torch.manual_seed(0)
    config = DiTConfig(obs_shape=(3, SIZE, SIZE), action_dim=1, width=32, depth=1, num_heads=2,
                       patch_size=PATCH, sampling_steps=1)  # fmt: skip
    model = DiT(config)
    if cut_action:
        model.backbone.register_forward_pre_hook(lambda _, args: (*args[:3], 0 * args[3]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        loss = model.loss(transitions(16, generator)).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def action_gain(model: DiT) -> float:
    batch = transitions(64, torch.Generator().manual_seed(2))
    state = model.encode(batch.obs[:, 0])
    target = batch.obs[:, 1]
    errors = []
    for actions in (batch.actions[:, :1], batch.actions[:, :1].roll(1, 0)):
        torch.manual_seed(3)
        with torch.no_grad():
            frames = model.rollout(state, actions).latents["frame"][:, 0]
        errors.append(float((frames - target).square().mean()))
    return errors[1] / errors[0] - 1.0


def test_sampled_next_frames_depend_on_the_action_after_training() -> None:
    assert action_gain(trained(cut_action=False)) > 1.0


def test_a_model_with_its_action_cut_off_gains_nothing() -> None:
    assert abs(action_gain(trained(cut_action=True))) < 0.05
