"""The token world model: causal mask, KV-cache equivalence, imagination, save/load parity and
the paper's figures at the base size."""

from pathlib import Path

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (registers the families)
from worldflux.core import ContractError, LatentState, WorldModel, create_world_model
from worldflux.models.token import PAPER_BASE, SIZES, Token
from worldflux.models.token.config import TokenConfig

TOKENS = {"obs_shape": (2,), "action_dim": 5, "action_kind": "discrete",
          "obs_modality": "tokens", "obs_vocab_size": 96}  # fmt: skip
VECTOR = {"obs_shape": (3,), "action_dim": 1}


def model(seed: int = 0, **kwargs) -> Token:
    torch.manual_seed(seed)
    m = create_world_model("token:ci", **(kwargs or TOKENS))
    assert isinstance(m, Token)
    return m.eval()


def frames(m: Token, batch: int, count: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(m.config.token_vocab, (batch, count, m.config.num_tokens), generator=g)
    actions = torch.nn.functional.one_hot(
        torch.randint(m.action_spec.num_actions, (batch, count), generator=g), 5
    ).float()
    return tokens, actions


def test_the_mask_is_causal() -> None:
    m = model()
    tokens, actions = frames(m, 2, 6)
    h = m.hidden(tokens, actions)
    changed = tokens.clone()
    changed[:, 4, 1] = (changed[:, 4, 1] + 1) % 96
    h2 = m.hidden(changed, actions)
    k1 = m.config.num_tokens + 1
    flat, flat2 = h.flatten(1, 2), h2.flatten(1, 2)
    at = 4 * k1 + 1  # the changed token's position
    assert torch.allclose(flat[:, :at], flat2[:, :at], atol=1e-6)
    assert not torch.allclose(flat[:, at:], flat2[:, at:])


def cached_hidden(m: Token, tokens, actions, valid, split: int) -> torch.Tensor:
    """Hidden states of the same sequence: prefill `split` frames (less their last action),
    then feed the rest one token at a time through the KV cache."""
    t = m.transformer
    cache, last = m._prefill(tokens[:, :split], actions[:, :split], valid[:, :split])
    x = t.embed_frames(tokens, actions)
    positions = t.token_positions(t.frame_positions(valid))
    start = split * t.frame_len - 1
    outs = [
        m._feed(cache, x[:, i : i + 1], positions[:, i : i + 1]) for i in range(start, x.shape[1])
    ]
    return torch.cat(outs, 1), start


@pytest.mark.parametrize("empty", [0, 3])
def test_cached_and_uncached_hidden_states_are_equal(empty: int) -> None:
    """`empty` slots at the start of the state (a state that has seen fewer frames than it
    holds): cached equals uncached, and equals a plain window of the real frames only."""
    m = model()
    tokens, actions = frames(m, 3, 8)
    valid = torch.ones(3, 8)
    valid[:, :empty] = 0
    full = m.hidden(tokens, actions, valid).flatten(1, 2)
    cached, start = cached_hidden(m, tokens, actions, valid, split=5)
    assert torch.allclose(cached, full[:, start:], atol=1e-5)
    real = m.hidden(tokens[:, empty:], actions[:, empty:]).flatten(1, 2)
    assert torch.allclose(full[:, empty * 3 :], real, atol=1e-5)
    logits = m.transformer.obs_head(cached)
    assert torch.allclose(logits, m.transformer.obs_head(full[:, start:]), atol=1e-5)


def test_rollout_samples_with_a_seed_and_depends_on_actions() -> None:
    m = model()
    obs = torch.tensor([[10.0, 70.0], [40.0, 80.0]])
    state = m.encode(obs)
    actions = torch.randint(5, (4, 12))  # past max_frames - context: the cache is rebuilt
    torch.manual_seed(3)
    a = m.rollout(state, actions)
    torch.manual_seed(3)
    b = m.rollout(state, actions)
    assert a.rewards is not None and b.rewards is not None
    assert torch.equal(a.latents["tokens"], b.latents["tokens"])
    assert torch.equal(a.rewards, b.rewards)
    assert a.latents["tokens"].shape == (4, 12, 8, 2) and a.rewards.shape == (4, 12)
    assert a.continues is not None and bool(((a.continues >= 0) & (a.continues <= 1)).all())
    # Candidates 0, 1 start from state 0 and 2, 3 from state 1: the first frame of the state
    # has moved 1 slot left after one step.
    assert torch.equal(a.latents["tokens"][:2, 0, -2], obs[:1].long().expand(2, -1))
    decoded = m.decode(LatentState(dict(a.latents)))
    assert decoded.shape == (4, 12, 2)


def test_observe_shifts_the_context() -> None:
    m = model()
    state = m.encode(torch.tensor([[1.0, 65.0]]))
    state = m.observe(state, torch.tensor([2]), torch.tensor([[3.0, 66.0]]))
    assert state["valid"][0, -2:].tolist() == [1.0, 1.0] and state["valid"][0, :-2].sum() == 0
    assert state["tokens"][0, -2:].tolist() == [[1, 65], [3, 66]]
    assert (
        state["actions"][0, -2].tolist() == [0, 0, 1, 0, 0] and state["actions"][0, -1].sum() == 0
    )
    with pytest.raises(ContractError, match="tokens"):
        m.rollout(
            LatentState({**state.tensors, "tokens": state["tokens"] + 200}),
            torch.zeros(1, 2).long(),
        )


def test_teacher_forced_logits_match_the_training_loss_positions() -> None:
    m = model()
    tokens, actions = frames(m, 2, 6)
    idx = actions.argmax(-1)
    state = m.encode(tokens[:, 0].float())
    for t in range(1, 3):
        state = m.observe(state, idx[:, t - 1], tokens[:, t].float())
    logits, targets = m.next_token_logits(state, idx[:, 2:5], tokens[:, 3:].float())
    assert torch.equal(targets, tokens[:, 3:])
    h = m.hidden(tokens, actions)
    k = 2
    pred = torch.cat([h[:, 2:-1, k:], h[:, 3:, : k - 1]], 2)
    assert torch.allclose(logits, m.transformer.obs_head(pred), atol=1e-5)


@pytest.mark.parametrize("kwargs", [TOKENS, VECTOR])
def test_save_load_parity_with_the_sampler_seeded(tmp_path: Path, kwargs: dict) -> None:
    m = model(**kwargs)
    path = m.save_pretrained(tmp_path / "ckpt")
    again = WorldModel.from_pretrained(path).eval()
    obs = torch.rand(2, 3) if kwargs is VECTOR else torch.tensor([[5.0, 70.0], [6.0, 71.0]])
    actions = torch.rand(2, 4, 1) * 2 - 1 if kwargs is VECTOR else torch.randint(5, (2, 4))
    outs = []
    for net in (m, again):
        torch.manual_seed(0)
        r = net.rollout(net.encode(obs), actions)
        outs.append((r.latents["tokens"], r.rewards, r.continues))
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)


def test_base_size_is_the_paper_model() -> None:
    assert {k: SIZES["base"][k] for k in SIZES["base"] if k in PAPER_BASE} == {
        k: v for k, v in PAPER_BASE.items() if k in SIZES["base"]
    }
    with torch.device("meta"):
        base = Token(TokenConfig(obs_shape=(3, 64, 64), action_dim=18, action_kind="discrete"))
    assert base.paper_alignment() == PAPER_BASE
    assert create_world_model.__name__  # the registry resolves the alias too
    from worldflux.core.registry import resolve_model_id

    assert resolve_model_id("iris")[1] == "base"


def test_config_refuses_what_it_cannot_model() -> None:
    with pytest.raises(ContractError, match="obs_vocab_size"):
        TokenConfig(obs_shape=(2,), obs_modality="tokens")
    with pytest.raises(ContractError, match="power-of-two"):
        TokenConfig(obs_shape=(3, 48, 48))
    with pytest.raises(ContractError, match="context_frames"):
        TokenConfig(max_frames=4, context_frames=4)
