"""V-JEPA 2-AC: frame-causal predictor, frozen encoder, rollout, save/load parity, training on
the bundled push clips and planning towards a goal through the generic planner."""

from pathlib import Path

import torch

from worldflux.core import Batch, ConditionPayload, WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.vjepa2_ac import VJEPA2AC, frame_causal_mask
from worldflux.planners import CEMConfig, CEMPlanner, GoalDistanceObjective, InProcessDynamics
from worldflux.training import Trainer, TrainerConfig

torch.set_num_threads(1)


def batch(b: int = 2, t: int = 5, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.rand(b, t, 3, 32, 32, generator=g),
        torch.rand(b, t, 2, generator=g) * 2 - 1,
        torch.zeros(b, t),
        torch.ones(b, t),
        torch.zeros(b, t, dtype=torch.bool),
    )


def model(**kw: object) -> VJEPA2AC:
    torch.manual_seed(0)
    m = create_world_model("vjepa2-ac:ci", obs_shape=(3, 32, 32), action_dim=2, **kw)
    assert isinstance(m, VJEPA2AC)
    return m


def test_frame_causal_mask_lets_a_frame_see_only_itself_and_the_past() -> None:
    mask = frame_causal_mask(3, 2)
    assert mask.tolist()[0] == [True, True, False, False, False, False]
    assert mask.tolist()[3] == [True, True, True, True, False, False]
    assert mask[5].all()


def test_predictions_of_a_frame_do_not_depend_on_later_frames_or_actions() -> None:
    m = model().eval()
    torch.nn.init.normal_(m.predictor.proj.weight, std=0.1)  # zero at init (residual)
    b = batch()
    h = m.frame_features(b.obs)
    out = m.step(h, b.actions)
    h2, a2 = h.clone(), b.actions.clone()
    h2[:, 3:] += 1.0
    a2[:, 3:] = -a2[:, 3:]
    out2 = m.step(h2, a2)
    assert torch.allclose(out[:, :3], out2[:, :3], atol=1e-6)
    assert not torch.allclose(out[:, 3:], out2[:, 3:])
    a3 = b.actions.clone()
    a3[:, 1] = -a3[:, 1]  # the action after frame 1 changes the prediction of frame 2
    out3 = m.step(h, a3)
    assert torch.allclose(out[:, :1], out3[:, :1], atol=1e-6)
    assert not torch.allclose(out[:, 1], out3[:, 1])


def test_action_embedding_reaches_each_patch_token_of_its_frame_only_when_asked() -> None:
    b = batch()
    h = model().frame_features(b.obs)
    for flag in (True, False):
        p = model(action_to_patches=flag).predictor
        a2 = b.actions.clone()
        a2[:, 2] = -a2[:, 2]
        one, two = p.tokens(h, b.actions), p.tokens(h, a2)
        assert one.shape == (2, 5, 17, 64)
        assert torch.allclose(one[:, [0, 1, 3, 4]], two[:, [0, 1, 3, 4]])  # other frames
        assert not torch.allclose(one[:, 2, 0], two[:, 2, 0])  # frame 2's action token
        shift = p.action(b.actions[:, 2]) - p.action(a2[:, 2])  # [B, W]
        patches = one[:, 2, 1:] - two[:, 2, 1:]
        if flag:
            assert torch.allclose(patches, shift[:, None].expand_as(patches), atol=1e-5)
        else:
            assert torch.allclose(patches, torch.zeros_like(patches))


def test_untrained_residual_predictor_copies_the_last_frame_and_direct_one_does_not() -> None:
    b = batch(t=6)
    out = model().eval().predict_targets(b.obs, b.actions[:, 1:4], 1)
    assert torch.allclose(out["predicted"], out["context"], atol=1e-5)
    direct = model(residual=False).eval().predict_targets(b.obs, b.actions[:, 1:4], 1)
    assert not torch.allclose(direct["predicted"], direct["context"], atol=1e-2)
    # a trained residual predictor moves away from copy-last: the change depends on the action
    m = model().eval()
    torch.nn.init.normal_(m.predictor.proj.weight, std=0.1)
    h = m.frame_features(b.obs)
    a2 = b.actions.clone()
    a2[:, 0] = -a2[:, 0]
    assert not torch.allclose(m.step(h, b.actions)[:, 0], m.step(h, a2)[:, 0])


def test_encoder_is_frozen_and_loss_has_both_terms() -> None:
    m = model()
    out = m.loss(batch())
    assert set(out.components) == {"representation_loss", "teacher_forcing", "rollout"}
    out.total.backward()
    assert all(p.grad is None and not p.requires_grad for p in m.encoder.parameters())
    assert m.predictor.action.weight.grad is not None


def test_rollout_and_save_load_parity(tmp_path: Path) -> None:
    m = model().eval()
    b = batch()
    state = m.encode(b.obs[:, 0])
    assert state["z"].shape == (2, 16, 64)  # 32 px / 8 px patches: 16 tokens a frame
    roll = m.rollout(state, b.actions[:, :3].repeat_interleave(2, 0))
    assert roll.latents["z"].shape == (4, 3, 16, 64)
    again = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "ac")).eval()
    assert torch.equal(
        roll.latents["z"],
        again.rollout(state, b.actions[:, :3].repeat_interleave(2, 0)).latents["z"],
    )
    one, two = (
        m.predict_targets(b.obs, b.actions[:, 1:4], 1),
        again.predict_targets(b.obs, b.actions[:, 1:4], 1),
    )
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_training_on_push_clips_improves_open_loop_prediction_and_plans_to_a_goal() -> None:
    train = load_dataset("push", split="train", seed=0)
    heldout = load_dataset("push", split="heldout", seed=0)
    torch.manual_seed(0)
    m = create_world_model("vjepa2-ac:ci", **train.spec.model_kwargs(), lr=1e-3)
    probe = heldout.sample(16, 6, torch.Generator().manual_seed(0))

    def errors() -> tuple[float, float]:
        m.eval()
        out = m.predict_targets(probe.obs, probe.actions[:, 1:4], 1)
        m.train()
        target = out["target"]
        return (
            float((out["predicted"] - target).square().mean()),
            float((out["context"] - target).square().mean()),
        )

    before, copy_last = errors()
    assert abs(before - copy_last) < 1e-4 * copy_last  # untrained (residual): copies the last frame
    config = TrainerConfig(
        steps=60,
        batch_size=8,
        seq_len=4,
        seed=0,
        eval_batches=2,
        progress=False,
        tensorboard=False,
        threads=1,
    )
    result = Trainer(m, config, train, heldout).fit()
    after, _ = errors()
    # below copy-last, which the untrained residual predictor is exactly (the gate's 1600-step
    # runs are measured in the docs; there the held-out L1 falls 0.2267 -> 0.1573 on seed 0,
    # here, after 60 steps, it may still sit at copy-last's)
    assert after < copy_last, (before, after, copy_last)
    assert (
        result.final_eval["representation_loss"] < 1.01 * result.initial_eval["representation_loss"]
    )

    planner = CEMPlanner(
        CEMConfig(horizon=2, num_samples=32, num_elites=4, iterations=2, seed=0),
        objective=GoalDistanceObjective(metric="l1"),
    )
    plan = planner.plan(
        InProcessDynamics(m), probe.obs[:2, 0], ConditionPayload(goal=probe.obs[:2, 2])
    )
    assert plan.action.tensor is not None and plan.action.tensor.shape == (2, 2, 2)
