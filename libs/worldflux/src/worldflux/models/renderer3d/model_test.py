"""Renderer3D properties: the camera pose given through ConditionPayload picks the view the
renderer draws (and decode agrees with it), the renderer is differentiable in every Gaussian
parameter, Gaussians sit on their cells' rays and the scene is in world coordinates, bad poses
and shapes are clear errors, the bundled scene3d frames are the views of their known poses,
save/load parity."""

import numpy as np
import pytest
import torch

from worldflux.core import ConditionPayload, ContractError, LatentState, WorldModel
from worldflux.datasets import load_dataset, scene3d
from worldflux.models.renderer3d import Renderer3D, Renderer3DConfig, renderer


def model() -> Renderer3D:
    torch.manual_seed(0)
    return Renderer3D(Renderer3DConfig(obs_shape=(3, 32, 32), action_dim=1))


def test_render_follows_the_condition_camera_pose() -> None:
    m = model()
    state = m.encode(torch.rand(2, 3, 32, 32), ConditionPayload(camera_pose=torch.zeros(2, 1)))
    pose = torch.tensor([[0.7], [-1.2]])
    image = m.render(state, ConditionPayload(camera_pose=pose))
    moved = LatentState({"scene": state["scene"], "pose": pose})
    assert torch.allclose(image, m.decode(moved))
    assert not torch.allclose(image, m.decode(state))  # another pose, another view
    assert image.shape == (2, 3, 32, 32)


def test_the_renderer_is_differentiable_in_every_gaussian_parameter() -> None:
    m = model()
    frame = torch.rand(1, 3, 32, 32)
    scene = m.infer_scene(frame, torch.tensor([0.3])).detach().requires_grad_(True)
    m.render_scene(scene, torch.tensor([1.1])).square().sum().backward()
    assert scene.grad is not None
    per_field = scene.grad.reshape(m.config.gaussians, 8).abs().sum(0)
    assert bool((per_field > 0).all()), per_field  # centre, colour, radius, opacity


def test_gaussians_land_on_their_cells_rays_at_the_input_pose() -> None:
    """A Gaussian is placed on its cell's camera ray: seen from the input pose, each projects
    back within one cell of its cell's centre, whatever depth the encoder chose."""
    m = model()
    azimuth = torch.tensor([0.9])
    gaussians = m.encoder(torch.rand(1, 3, 32, 32), azimuth)[0]
    centre, rot = renderer.camera(azimuth, 4.0, 0.35)
    cam = (gaussians[:, :3] - centre) @ rot[0].T  # camera frame: right, up, forward
    uv = 1.6 * cam[:, :2] / cam[:, 2:]
    assert torch.allclose(uv, m.encoder.cells.reshape(-1, 2), atol=2.0 / 8 + 1e-5)
    assert bool(((cam[:, 2] > 4.0 - 2.75 - 1e-4) & (cam[:, 2] < 4.0 + 2.75 + 1e-4)).all())


def test_scene_is_in_world_coordinates() -> None:
    """The same Gaussians rendered from the pose they were inferred at give the input frame's
    layout; shifting the input pose turns the whole scene with it (the encoder never sees the
    pose, so the world-frame scene is the camera-frame one moved by the known pose)."""
    m = model()
    frame = torch.rand(1, 3, 32, 32)
    a, b = torch.tensor([0.2]), torch.tensor([1.4])
    from_a = m.render_scene(m.infer_scene(frame, a), a)
    from_b = m.render_scene(m.infer_scene(frame, b), b)
    assert torch.allclose(from_a, from_b, atol=1e-4)
    assert not torch.allclose(m.infer_scene(frame, a), m.infer_scene(frame, b))


def test_bad_camera_pose_is_a_clear_error() -> None:
    m = model()
    state = m.encode(torch.rand(2, 3, 32, 32))
    with pytest.raises(ContractError, match="camera_pose must be azimuths"):
        m.render(state, ConditionPayload(camera_pose=torch.zeros(3)))
    with pytest.raises(ContractError, match="one continuous value"):
        Renderer3D(Renderer3DConfig(obs_shape=(3, 32, 32), action_dim=2))
    with pytest.raises(ContractError, match="multiples of stride"):
        Renderer3D(Renderer3DConfig(obs_shape=(3,), action_dim=1))


def test_scene3d_frames_are_the_views_of_their_known_poses() -> None:
    episodes = scene3d.scenes("heldout", 0)
    again = scene3d.scenes("heldout", 0)
    assert np.array_equal(episodes.obs, again.obs)  # generated offline, deterministic
    data = load_dataset("scene3d", "heldout")
    assert data.spec.model_kwargs()["obs_shape"] == (3, 32, 32)
    # the same spheres seen from two poses differ; from one pose they agree exactly
    centres = np.array([[0.5, 0.0, 0.0], [-0.5, 0.5, 0.0], [0.0, -0.5, 0.5]])
    colours = np.eye(3)
    first, _ = scene3d.render(centres, colours, 0.4)
    second, _ = scene3d.render(centres, colours, 0.4)
    other, _ = scene3d.render(centres, colours, -1.1)
    assert np.array_equal(first, second) and not np.allclose(first, other)


def test_save_load_parity(tmp_path) -> None:
    m = model()
    state = m.encode(torch.rand(2, 3, 32, 32))
    actions = torch.rand(2, 5, 1) * 2 - 1
    before = m.rollout(state, actions)
    loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "r3d"))
    after = loaded.rollout(LatentState(dict(state.tensors)), actions)
    assert torch.equal(before.latents["scene"], after.latents["scene"])
    assert torch.equal(before.rewards, after.rewards)
    assert torch.equal(m.decode(LatentState(dict(before.latents))),
                       loaded.decode(LatentState(dict(after.latents))))  # fmt: skip
