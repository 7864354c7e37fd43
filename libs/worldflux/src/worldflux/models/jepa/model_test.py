"""I-JEPA: EMA schedule and update, collapse metric, save/load parity, shapes."""

from pathlib import Path

import pytest
import torch

from worldflux.core import Batch, WorldModel, create_world_model
from worldflux.models.jepa import JEPA, JEPAConfig
from worldflux.models.jepa.loss import embedding_std
from worldflux.models.vjepa2 import VJEPA2  # registers vjepa2 (the action-free test covers both)

torch.set_num_threads(1)


def batch(obs_shape: tuple[int, ...], b: int = 4, t: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.rand(b, t, *obs_shape, generator=g),
        torch.rand(b, t, 1, generator=g) * 2 - 1,
        torch.zeros(b, t),
        torch.ones(b, t),
        torch.zeros(b, t, dtype=torch.bool),
    )


def model(obs_shape: tuple[int, ...] = (8,), **kw: object) -> JEPA:
    torch.manual_seed(0)
    m = create_world_model("jepa:ci", obs_shape=obs_shape, action_dim=1, **kw)
    assert isinstance(m, JEPA)
    return m


def test_momentum_schedule_runs_from_0_996_to_1() -> None:
    c = JEPAConfig(size="ci", momentum_steps=100)
    assert c.momentum(0) == pytest.approx(0.996)
    assert c.momentum(50) == pytest.approx(0.998)
    assert c.momentum(100) == c.momentum(10_000) == 1.0


def test_after_optimizer_step_moves_the_target_by_one_minus_momentum() -> None:
    m = model(momentum_steps=10)
    online = next(m.encoder.parameters())
    target = next(m.target_encoder.parameters())
    assert torch.equal(online, target) and not target.requires_grad
    with torch.no_grad():
        online.add_(1.0)
    before = target.clone()
    m.after_optimizer_step(5)  # momentum 0.998
    assert torch.allclose(target, 0.998 * before + 0.002 * online)
    m.after_optimizer_step(10)  # momentum 1.0: frozen
    assert torch.allclose(target, 0.998 * before + 0.002 * online)


def test_collapse_metric_is_zero_for_a_constant_encoder_and_positive_otherwise() -> None:
    m = model()
    b = batch((8,), b=8)
    assert m.loss(b).metrics["embedding_std"] > 1e-3
    with torch.no_grad():  # the encoder ignores its input: every sample embeds the same
        m.target_encoder.tokenizer.embed.weight.zero_()
    assert m.loss(b).metrics["embedding_std"] < 1e-6
    assert float(embedding_std(torch.ones(5, 3, 4))) == 0.0


@pytest.mark.parametrize("obs_shape", [(8,), (3, 32, 32)])
def test_loss_encode_rollout_and_targets_have_the_promised_shapes(obs_shape) -> None:
    m = model(obs_shape)
    b = batch(obs_shape)
    out = m.loss(b)
    assert out.total.dim() == 0 and torch.isfinite(out.total)
    assert 0.0 < out.metrics["mask_ratio"] < 1.0
    out.total.backward()
    assert all(p.grad is None for p in m.target_encoder.parameters())
    assert m.predictor.embed.weight.grad is not None
    z = m.encode(b.obs[:, 0])["z"]
    assert z.shape == (4, m.config.embed_dim)
    r = m.rollout(m.encode(b.obs[:, 0]), b.actions[:, :3].repeat_interleave(2, 0))
    assert r.latents["z"].shape == (8, 3, m.config.embed_dim)
    pred = m.predict_targets(b.obs, b.actions[:, 3:], 2)
    assert pred["predicted"].shape == pred["target"].shape == pred["context"].shape


def test_save_and_reload_give_identical_outputs(tmp_path: Path) -> None:
    m = model((3, 32, 32))
    m.after_optimizer_step(3)
    b = batch((3, 32, 32))
    path = m.save_pretrained(tmp_path / "jepa")
    again = WorldModel.from_pretrained(path)
    m.eval(), again.eval()
    assert torch.equal(m.encode(b.obs[:, 0])["z"], again.encode(b.obs[:, 0])["z"])
    torch.manual_seed(1)
    first = m.loss(b).total
    torch.manual_seed(1)
    assert torch.equal(first, again.loss(b).total)
    one, two = m.predict_targets(b.obs, b.actions, 2), again.predict_targets(b.obs, b.actions, 2)
    assert all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize("model_id", ["jepa:ci", "vjepa2:ci"])
def test_action_free_families_declare_no_actions_and_planners_refuse_them(model_id: str) -> None:
    from worldflux.core import ActionKind, ConditionPayload, ContractError
    from worldflux.planners import CEMConfig, CEMPlanner, GoalDistanceObjective, InProcessDynamics

    m = create_world_model(model_id, obs_shape=(3, 32, 32), action_dim=2).eval()
    assert isinstance(m, JEPA | VJEPA2) and m.spec.action.kind is ActionKind.NONE
    b = batch((3, 32, 32))
    state = m.encode(b.obs[:, 0])
    # A dataset's actions are accepted (the Trainer feeds ordinary batches) and never read.
    held = m.rollout(state, torch.zeros(4, 3, 2)).latents["z"]
    assert torch.equal(held, m.rollout(state, torch.rand(4, 3, 7)).latents["z"])
    with pytest.raises(ContractError, match="takes no actions"):
        m.rollout(state, torch.zeros(4))
    planner = CEMPlanner(CEMConfig(horizon=2), objective=GoalDistanceObjective(metric="l1"))
    with pytest.raises(ContractError, match="takes none actions"):
        planner.plan(InProcessDynamics(m), b.obs[:, 0], ConditionPayload(goal=b.obs[:, 1]))


def test_context_baseline_sees_only_the_context_of_the_clip_it_scores() -> None:
    from worldflux.models.jepa.model import context_baseline, derangement

    m = model((3, 32, 32)).eval()
    frames = torch.rand(3, 1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    masks = m.sample_masks(3, torch.Generator().manual_seed(1))

    def baseline(clips: torch.Tensor) -> torch.Tensor:
        return context_baseline(m.target_encoder, clips, masks, torch.Generator().manual_seed(2))

    per_clip = baseline(frames).reshape(3, -1)
    # Clip 0's tokens outside its context (its targets and the rest) are never shown to it...
    changed = frames.clone()
    tokens = m.grid[-1]
    hidden = torch.ones(tokens * m.grid[-2], dtype=torch.bool)
    hidden[masks.context[0]] = False
    patch = 32 // m.grid[-1]
    for index in hidden.nonzero().flatten().tolist():
        row, col = divmod(index, m.grid[-1])
        changed[0, 0, :, row * patch : (row + 1) * patch, col * patch : (col + 1) * patch] = 0.5
    again = baseline(changed).reshape(3, -1)
    assert torch.equal(per_clip[0], again[0])
    # ...but they fill the other clips' hidden tokens, and its context does reach it.
    assert not torch.equal(per_clip[1:], again[1:])
    context = frames.clone()
    context[0] = 1.0 - context[0]
    assert not torch.equal(per_clip[0], baseline(context).reshape(3, -1)[0])
    perm = derangement(5, torch.Generator().manual_seed(3))
    assert sorted(perm.tolist()) == list(range(5)) and (perm != torch.arange(5)).all()


def test_official_groups_leave_biases_and_norm_gains_undecayed() -> None:
    from worldflux.training.optim import build_optimizer

    m = model((3, 16, 16), decay_norms=False)
    optimizer = build_optimizer(m)
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    trainable = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    assert len(decay) == len(trainable)  # every trainable parameter exactly once
    for name, p in trainable:
        exempt = name.endswith("bias") or p.dim() == 1
        assert decay[id(p)] == (0.0 if exempt else m.config.weight_decay), name
    assert decay[id(m.encoder.transformer.norm.weight)] == 0.0
    assert decay[id(m.predictor.embed.weight)] == 0.04
    # The default decays everything alike: one group, the LayerNorm gains included.
    everything = build_optimizer(model((3, 16, 16)))
    assert [g["weight_decay"] for g in everything.param_groups] == [0.04]
