from pathlib import Path

import pytest
import torch

from worldflux.core import Batch, ContractError, LatentState, create_world_model
from worldflux.models.dreamerv3 import LOSS_NAMES, DreamerV3WorldModel
from worldflux.planners.dynamics import InProcessDynamics
from worldflux.serialization import load_pretrained, save_pretrained

VECTOR = {"obs_shape": (3,), "action_dim": 2, "action_low": -2.0, "action_high": 2.0}
IMAGE = {"obs_shape": (3, 64, 64), "action_dim": 4, "action_kind": "discrete"}


def make(kind: str = "vector", **kw) -> DreamerV3WorldModel:
    model = create_world_model("dreamerv3:ci", **{**(VECTOR if kind == "vector" else IMAGE), **kw})
    assert isinstance(model, DreamerV3WorldModel)
    return model


def batch_for(model: DreamerV3WorldModel, b: int = 3, t: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    c = model.config
    if c.is_image:
        obs = torch.rand(b, t, *c.obs_shape, generator=g)
    else:
        obs = torch.randn(b, t, *c.obs_shape, generator=g)
    if model.discrete:
        actions = torch.randint(0, c.action_dim, (b, t), generator=g)
    else:
        actions = torch.rand(b, t, c.action_dim, generator=g) * 4 - 2
    rewards = torch.randn(b, t, generator=g)
    continues = torch.ones(b, t)
    continues[0, 3:] = 0.0  # a terminal transition after actions[0, 3]
    is_first = torch.zeros(b, t, dtype=torch.bool)
    is_first[1, 0] = True
    return Batch(obs, actions, rewards, continues, is_first)


def perturb(model: DreamerV3WorldModel) -> DreamerV3WorldModel:
    """Move every weight off its initial value (the reward/value heads start at exactly 0)."""
    torch.manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def seeded_loss(model: DreamerV3WorldModel, batch: Batch, seed: int = 0):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return model.loss(batch)


# Which parameters each loss term must train (the rest it must leave alone).
TRAINS = {
    "rec": ("encoder", "rssm", "decoder"),
    "rew": ("reward_head", "rssm", "encoder"),
    "con": ("continue_head", "rssm", "encoder"),
    # The prior reads deter, which carries earlier straight-through posterior samples.
    "dyn": ("rssm", "encoder"),
    "rep": ("rssm", "encoder"),
    "policy": ("actor",),
    "value": ("critic",),
    "repval": ("critic", "rssm", "encoder"),
}


@pytest.mark.parametrize("kind", ["vector", "image"])
def test_every_loss_term_finite_and_trains_its_modules(kind: str) -> None:
    # free nats are tested in rssm_test; here every KL term has a gradient
    model = perturb(make(kind, free_nats=0.0))
    out = seeded_loss(model, batch_for(model, b=2, t=4))
    out.check_finite()
    assert set(out.components) == set(LOSS_NAMES)
    expected_total = sum(getattr(model.config, f"scale_{k}") * v for k, v in out.components.items())
    assert torch.allclose(out.total, expected_total)
    for name in ("kl", "recon_mse", "return_scale", "policy_entropy", "reward_mae"):
        assert name in out.metrics
    modules = dict(model.named_children())
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for name, value in out.components.items():
        grads = torch.autograd.grad(
            value, [p for _, p in named], retain_graph=True, allow_unused=True
        )
        by_param = dict(zip([n for n, _ in named], grads, strict=True))
        for module in modules:
            touched = any(
                g is not None and g.abs().sum() > 0
                for n, g in by_param.items()
                if n.startswith(module + ".")
            )
            assert touched == (module in TRAINS[name]), (name, module, touched)


def test_batch_alignment_uses_the_action_and_reward_before_each_obs() -> None:
    model = perturb(make()).eval()
    batch = batch_for(model)
    base = seeded_loss(model, batch).scalars()
    # The last reward belongs to an action whose outcome is not in the batch: no effect.
    changed = batch_for(model)
    changed.rewards[:, -1] += 10.0
    assert seeded_loss(model, changed).scalars() == base
    changed = batch_for(model)
    changed.rewards[2, 0] += 10.0
    assert seeded_loss(model, changed).scalars()["rew"] != base["rew"]
    # The last action precedes no observation in the batch: the world model never sees it.
    changed = batch_for(model)
    changed.actions[:, -1] = -changed.actions[:, -1]
    assert seeded_loss(model, changed).scalars() == base
    changed = batch_for(model)
    changed.actions[2, 0] = -changed.actions[2, 0]
    assert seeded_loss(model, changed).scalars()["rec"] != base["rec"]
    # An episode start resets the state: the action before it is ignored.
    changed = batch_for(model)
    changed.is_first[2, 3] = True
    a = seeded_loss(model, changed).scalars()
    changed.actions[2, 2] = -changed.actions[2, 2]
    assert seeded_loss(model, changed).scalars()["rec"] == a["rec"]


def test_terminal_steps_drive_the_continue_target() -> None:
    model = perturb(make()).eval()
    batch = batch_for(model)
    c0 = seeded_loss(model, batch).scalars()["con"]
    batch.continues.fill_(1.0)
    assert seeded_loss(model, batch).scalars()["con"] != c0


@pytest.mark.parametrize("kind", ["vector", "image"])
def test_encode_observe_rollout_propose_decode(kind: str) -> None:
    torch.manual_seed(0)
    model = make(kind).eval()
    c = model.config
    obs = torch.rand(2, *c.obs_shape)
    with torch.no_grad():
        state = model.encode(obs)
        assert state["deter"].shape == (2, c.deter) and state["stoch"].shape == (2, c.stoch_dim)
        action = torch.tensor([0, 3]) if model.discrete else torch.zeros(2, c.action_dim)
        nxt = model.observe(state, action, obs)
        assert not torch.equal(nxt["deter"], state["deter"])
        actions = model.propose(state, horizon=5, num_samples=3)
        assert actions is not None
        if model.discrete:
            assert actions.shape == (6, 5) and actions.dtype == torch.int64
            assert actions.min() >= 0 and actions.max() < c.action_dim
        else:
            assert actions.shape == (6, 5, c.action_dim)
            assert actions.min() >= c.action_low and actions.max() <= c.action_high
        rollout = model.rollout(state, actions)
        assert rollout.latents["deter"].shape == (6, 5, c.deter)
        assert rollout.rewards is not None and rollout.rewards.shape == (6, 5)
        assert rollout.continues is not None
        assert rollout.continues.min() >= 0 and rollout.continues.max() <= 1
        assert rollout.values is not None and rollout.values.shape == (6,)
        final = torch.cat([rollout.latents["deter"][:, -1], rollout.latents["stoch"][:, -1]], -1)
        assert torch.equal(rollout.values, model.critic.predict(final))
        assert model.decode(state).shape == (2, *c.obs_shape)
        assert model.decode(LatentState(rollout.latents)).shape == (6, 5, *c.obs_shape)
    spec = model.spec
    assert spec.has_value and spec.has_continue and spec.has_policy_prior
    assert spec.latent == {"deter": (c.deter,), "stoch": (c.stoch_dim,)}
    assert spec.discount == pytest.approx(1 - 1 / 333)


def test_candidates_grouped_per_state() -> None:
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        state = model.encode(torch.randn(2, 3))
        actions = torch.randn(1, 4, 2).expand(6, 4, 2).contiguous()
        deter = model.rollout(state, actions).latents["deter"][:, 0]
    # The first deterministic step depends only on the state and the action.
    assert torch.equal(deter[0], deter[2]) and torch.equal(deter[3], deter[5])
    assert not torch.allclose(deter[0], deter[3])


def test_bad_inputs_fail_with_clear_errors() -> None:
    model = make()
    with pytest.raises(ContractError, match=r"obs must have shape \[B, 3\]"):
        model.encode(torch.zeros(2, 4))
    with pytest.raises(ContractError, match="NaN"):
        model.encode(torch.tensor([[0.0, float("nan"), 0.0]]))
    state = model.encode(torch.zeros(2, 3))
    with pytest.raises(ContractError, match="continuous actions must have shape"):
        model.rollout(state, torch.zeros(2, 3))
    with pytest.raises(ContractError, match="cannot be split evenly"):
        model.rollout(state, torch.zeros(3, 2, 2))
    with pytest.raises(ContractError, match=r"state 'deter' must be \[B, 64\]"):
        model.rollout(
            LatentState({"deter": torch.zeros(2, 5), "stoch": torch.zeros(2, 32)}),
            torch.zeros(2, 1, 2),
        )
    with pytest.raises(ContractError, match="has no tensor 'stoch'"):
        model.rollout(LatentState({"deter": torch.zeros(2, 64)}), torch.zeros(2, 1, 2))
    with pytest.raises(ContractError, match="one action and one obs per state"):
        model.observe(state, torch.zeros(3, 2), torch.zeros(3, 3))
    batch = batch_for(model)
    batch.rewards[0, 1] = float("inf")
    with pytest.raises(ContractError, match="batch.rewards contains NaN or infinite"):
        model.loss(batch)
    with pytest.raises(ContractError, match="at least 2 steps"):
        model.loss(batch_for(model, t=1))
    with pytest.raises(ContractError, match=r"batch.obs must have shape \[B, T, 3\]"):
        b = batch_for(model)
        model.loss(Batch(b.obs[..., :2], b.actions, b.rewards, b.continues, b.is_first))
    with pytest.raises(ContractError, match=r"decode needs 'deter' \[..., 64\]"):
        model.decode(LatentState({"deter": torch.zeros(2, 8), "stoch": torch.zeros(2, 32)}))
    discrete = make("image")
    with pytest.raises(ContractError, match=r"indices must be in \[0, 4\)"):
        discrete.rollout(discrete.encode(torch.rand(1, 3, 64, 64)), torch.tensor([[4]]))


def test_uint8_images_are_scaled() -> None:
    model = make("image").eval()
    img = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    torch.manual_seed(0)
    a = model.encode(img)["deter"]
    torch.manual_seed(0)
    b = model.encode(img.float() / 255.0)["deter"]
    assert torch.equal(a, b)


def test_slow_critic_tracks_critic_by_ema() -> None:
    model = make()
    assert all(not p.requires_grad for p in model.slow_critic.parameters())
    with torch.no_grad():
        for p in model.critic.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.slow_critic.parameters()]
    model.after_optimizer_step(0)
    for b, s, f in zip(
        before, model.slow_critic.parameters(), model.critic.parameters(), strict=True
    ):
        assert torch.allclose(s, b + 0.02 * (f - b), atol=1e-6)
    assert int(model.slow_updates) == 1


def test_return_normaliser_updates_only_in_training() -> None:
    model = make()
    batch = batch_for(model)
    model.eval()
    seeded_loss(model, batch)
    assert model.retnorm.lo.item() == 0.0 and model.retnorm.hi.item() == 0.0
    with torch.no_grad():
        model.reward_head.out.bias[-1] = 5.0  # make imagined rewards non-zero
    model.train()
    seeded_loss(model, batch)
    assert model.retnorm.hi.item() > 0.0


@pytest.mark.parametrize("kind", ["vector", "image"])
def test_save_load_parity(kind: str, tmp_path: Path) -> None:
    model = perturb(make(kind))
    seeded_loss(model, batch_for(model))  # updates return-normaliser buffers
    model.after_optimizer_step(0)
    save_pretrained(model, tmp_path / "ckpt")
    loaded = load_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded, DreamerV3WorldModel)
    for m in (model, loaded):
        m.eval()
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    batch = batch_for(model, seed=1)
    la, lb = seeded_loss(model, batch, 7), seeded_loss(loaded, batch, 7)
    for k in LOSS_NAMES:
        assert torch.equal(la.components[k], lb.components[k]), k
    obs = batch.obs[:, 0]
    torch.manual_seed(3)
    sa = model.encode(obs)
    ra = model.rollout(sa, model.propose(sa, 4, 2))
    torch.manual_seed(3)
    sb = loaded.encode(obs)
    rb = loaded.rollout(sb, loaded.propose(sb, 4, 2))
    assert torch.equal(sa["stoch"], sb["stoch"])
    assert ra.rewards is not None and rb.rewards is not None and torch.equal(ra.rewards, rb.rewards)
    assert ra.values is not None and rb.values is not None and torch.equal(ra.values, rb.values)
    assert torch.equal(model.decode(sa), loaded.decode(sb))


@pytest.mark.parametrize("kind", ["vector", "image"])
def test_in_process_dynamics_rollouts(kind: str) -> None:
    torch.manual_seed(0)
    model = make(kind)
    dynamics = InProcessDynamics(model)
    c = model.config
    state = dynamics.encode(torch.rand(2, *c.obs_shape))
    proposals = dynamics.propose(state, 3, 4)
    assert proposals is not None
    rollout = dynamics.rollout(state, proposals)
    assert rollout.num_candidates == 8 and rollout.horizon == 3
    assert rollout.rewards is not None and torch.isfinite(rollout.rewards).all()
    assert rollout.values is not None and not rollout.values.requires_grad
    assert dynamics.spec.model_id == "dreamerv3:ci"


def test_planners_plan_through_in_process_dynamics() -> None:
    from worldflux.planners import DiscreteCEMConfig, DiscreteCEMPlanner, MPPIConfig, MPPIPlanner

    torch.manual_seed(0)
    model = perturb(make())
    config = MPPIConfig(horizon=3, iterations=2, num_samples=32, num_elites=4, num_pi_trajs=4)
    result = MPPIPlanner(config).plan(InProcessDynamics(model), torch.randn(2, 3))
    action = result.action.tensor
    assert action is not None and action.shape == (3, 2, 2)
    assert action.min() >= -2.0 and action.max() <= 2.0
    discrete = perturb(make("image"))
    cem = DiscreteCEMPlanner(
        DiscreteCEMConfig(horizon=2, iterations=2, num_samples=16, num_elites=4)
    )
    tokens = cem.plan(InProcessDynamics(discrete), torch.rand(1, 3, 64, 64)).action.tokens
    assert tokens is not None and tokens.shape == (2, 1) and int(tokens.max()) < 4


def _with_context(batch: Batch, model: DreamerV3WorldModel, valid: bool, reward: float) -> Batch:
    """The batch as a ReplayBuffer holding this model's posteriors would return it."""
    b, c = batch.batch_size, model.config
    g = torch.Generator().manual_seed(5)
    extras = {
        "context.valid": torch.full((b,), valid),
        "context.deter": torch.randn(b, c.deter, generator=g),
        "context.stoch": torch.nn.functional.one_hot(
            torch.randint(0, c.classes, (b, c.stoch), generator=g), c.classes
        )
        .flatten(1)
        .float(),
        "context.action": torch.zeros(b, c.action_dim),
        "context.reward": torch.full((b,), reward),
        "context.continue": torch.ones(b),
    }
    return Batch(batch.obs, batch.actions, batch.rewards, batch.continues, batch.is_first, extras)


def _loss(model: DreamerV3WorldModel, batch: Batch):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)  # the loss samples latents and actions: same draws for each call
    with torch.no_grad():
        return model.loss(batch)


def test_replay_context_restarts_from_the_stored_latent_and_trains_step_zero() -> None:
    """Official replay_context 1: a sequence with a stored predecessor starts from its latent
    (not zeros) and its first reward/continue targets count; without one, nothing changes."""
    model = perturb(make()).eval()  # off the zero-initialised reward head
    batch = batch_for(model, b=3, t=6)
    batch.is_first[1, 0] = False  # no episode start at t=0: every sequence may have context
    plain = _loss(model, batch)
    off = _loss(model, _with_context(batch, model, valid=False, reward=9.0))
    on = _loss(model, _with_context(batch, model, valid=True, reward=0.0))
    on_rewarded = _loss(model, _with_context(batch, model, valid=True, reward=9.0))
    assert plain.metrics["context_fraction"] == 0.0 and on.metrics["context_fraction"] == 1.0
    for name in LOSS_NAMES:  # invalid context: exactly the zero start
        assert torch.equal(plain.components[name], off.components[name]), name
    deter0 = plain.aux["posterior.deter"][:, 0]
    assert not torch.allclose(on.aux["posterior.deter"][:, 0], deter0)  # started from context
    # The context step's reward is the first step's reward target: it counts only with context.
    assert not torch.equal(on_rewarded.components["rew"], on.components["rew"])
    assert plain.aux["posterior.deter"].shape == (3, 6, model.config.deter)


def test_training_keeps_posteriors_in_replay_and_uses_them(tmp_path: Path) -> None:
    from worldflux.datasets import load_dataset
    from worldflux.training import ReplayBuffer, Trainer, TrainerConfig

    train = load_dataset("pendulum", split="train", seed=0)
    config = TrainerConfig(
        steps=30, batch_size=16, seq_len=16, eval_batches=0, progress=False, threads=1
    )

    def fit(replay_context: int, data):  # type: ignore[no-untyped-def]
        model = create_world_model(
            "dreamerv3:ci",
            **train.spec.model_kwargs(),
            replay_context=replay_context,
            lr=1e-3,
            warmup=0,
        )
        trainer = Trainer(model, config, train_data=data)
        return trainer, trainer.fit()

    buffer = ReplayBuffer.from_dataset(train)  # a fixed dataset, opted in to replay context
    assert len(buffer) == len(train)
    trainer, result = fit(1, buffer)
    assert trainer.train_data is buffer and int(buffer.has_latent.sum()) > 0
    assert result.history[0]["context_fraction"] == 0.0  # nothing stored before step 1
    assert max(h["context_fraction"] for h in result.history) > 0.0
    # replay_context 0 keeps nothing and ignores context; a plain dataset has none.
    other = ReplayBuffer.from_dataset(train)
    _, result = fit(0, other)
    assert int(other.has_latent.sum()) == 0
    assert max(h["context_fraction"] for h in result.history) == 0.0
    trainer, _ = fit(1, train)
    assert trainer.train_data is train
