import torch

from worldflux.models.dreamerv3.config import SIZES, DreamerV3Config
from worldflux.models.dreamerv3.nets import BlockLinear
from worldflux.models.dreamerv3.rssm import RSSM, RSSMSequence


def make(**kw) -> RSSM:
    config = DreamerV3Config(**{**SIZES["ci"], "obs_shape": (3,), "action_dim": 2, **kw})
    return RSSM(config, action_dim=2, token_dim=10)


def test_gru_is_block_diagonal_with_eight_blocks() -> None:
    rssm = make()
    assert isinstance(rssm.gru, BlockLinear) and rssm.gru.blocks == 8
    deter = rssm.config.deter
    assert rssm.gru.weight.shape == (8, deter // 8, 3 * deter // 8)
    hid = rssm.dynhid[0]
    assert isinstance(hid, BlockLinear) and hid.blocks == 8
    # Each block reads its slice of deter plus the three shared embeddings.
    assert hid.weight.shape == (8, deter // 8 + 3 * rssm.hidden, deter // 8)


def test_gru_blocks_do_not_mix_through_the_gate_layer() -> None:
    torch.manual_seed(0)
    rssm = make()
    d = rssm.config.deter
    x = torch.randn(d)
    jac = torch.autograd.functional.jacobian(rssm.gru, x)  # [3d, d]
    per = d // 8
    gates = jac.reshape(8, 3 * per, 8, per)
    for i in range(8):
        for j in range(8):
            if i != j:
                assert gates[i, :, j].abs().max() == 0


def test_reset_zeroes_previous_state_and_action() -> None:
    torch.manual_seed(0)
    rssm = make()
    tokens = torch.randn(3, 10)
    deter, stoch = torch.randn(3, rssm.config.deter), torch.rand(3, rssm.config.stoch_dim)
    action = torch.randn(3, 2)
    reset = torch.tensor([True, False, True])
    out_deter, _, post = rssm.obs_step(deter, stoch, action, tokens, reset)
    zero_deter, _, zero_post = rssm.obs_step(
        torch.zeros_like(deter), torch.zeros_like(stoch), torch.zeros_like(action), tokens
    )
    assert torch.allclose(out_deter[reset], zero_deter[reset])
    assert torch.allclose(post[reset], zero_post[reset])
    assert not torch.allclose(out_deter[1], zero_deter[1])


def test_observe_shapes_and_stoch_one_hot() -> None:
    rssm = make()
    seq = rssm.observe(
        torch.randn(2, 5, 10), torch.randn(2, 5, 2), torch.zeros(2, 5, dtype=torch.bool)
    )
    c = rssm.config
    assert seq.deter.shape == (2, 5, c.deter) and seq.stoch.shape == (2, 5, c.stoch_dim)
    assert seq.post.shape == (2, 5, c.stoch, c.classes)
    onehots = seq.stoch.detach().reshape(2, 5, c.stoch, c.classes)
    assert torch.equal(onehots.sum(-1), torch.ones(2, 5, c.stoch))


def test_kl_free_nats_block_gradients_below_threshold() -> None:
    torch.manual_seed(0)
    rssm = make(free_nats=1.0)
    c = rssm.config
    deter = torch.randn(4, c.deter)
    # Posterior equal to the prior: KL = 0 < 1 free nat.
    with torch.no_grad():
        prior = rssm.prior(deter)
    post = prior.clone().requires_grad_(True)
    seq = RSSMSequence(deter.unsqueeze(1), torch.zeros(4, 1, c.stoch_dim), post.unsqueeze(1))
    dyn, rep, stats = rssm.kl_losses(seq)
    assert torch.allclose(dyn, torch.ones_like(dyn)) and torch.allclose(rep, torch.ones_like(rep))
    assert stats["kl"].max() < 1e-5
    (dyn.sum() + rep.sum()).backward()
    assert post.grad is not None and post.grad.abs().max() == 0
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in rssm.parameters())

    # A posterior far from the prior: above the threshold both terms carry gradient.
    far = torch.full_like(prior, -20.0)
    far[..., 0] = 0.0
    far = far.log_softmax(-1).requires_grad_(True)
    seq = RSSMSequence(deter.unsqueeze(1), torch.zeros(4, 1, c.stoch_dim), far.unsqueeze(1))
    dyn, rep, _ = rssm.kl_losses(seq)
    assert (dyn > 1.0).all() and (rep > 1.0).all()
    rep.sum().backward()
    assert far.grad is not None and far.grad.abs().max() > 0
    rssm.zero_grad()
    dyn, _, _ = rssm.kl_losses(seq)
    dyn.sum().backward()
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in rssm.prior_net.parameters())


def test_dyn_trains_prior_only_rep_trains_posterior_only() -> None:
    torch.manual_seed(0)
    rssm = make(free_nats=0.0)
    c = rssm.config
    deter = torch.randn(4, c.deter)
    post = rssm.posterior(deter, torch.randn(4, 10)) * 1.0
    seq = RSSMSequence(deter.unsqueeze(1), torch.zeros(4, 1, c.stoch_dim), post.unsqueeze(1))
    _, rep, _ = rssm.kl_losses(seq)
    rep.sum().backward()
    assert all(p.grad is None for p in rssm.prior_net.parameters())
    assert rssm.obs_logits.weight.grad is not None
    rssm.zero_grad(set_to_none=True)
    dyn, _, _ = rssm.kl_losses(seq)
    dyn.sum().backward()
    assert rssm.obs_logits.weight.grad is None
    assert rssm.prior_logits.weight.grad is not None
