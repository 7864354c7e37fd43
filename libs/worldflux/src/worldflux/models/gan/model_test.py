"""GAN-family properties: two optimizers, each moving only its own network, in alternation
(generator on `loss`, then the discriminator on the generated transitions); save/load parity."""

import torch

from worldflux.core import LatentState, WorldModel
from worldflux.datasets import load_dataset
from worldflux.models.gan import GAN, GANConfig
from worldflux.training import Trainer, TrainerConfig


def model() -> GAN:
    torch.manual_seed(0)
    return GAN(GANConfig(obs_shape=(3,), action_dim=1))


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before, strict=True))


def test_one_trainer_step_updates_both_networks_with_their_own_optimizers() -> None:
    m = model()
    data = load_dataset("pendulum", "train")
    config = TrainerConfig(steps=1, batch_size=4, seq_len=6, progress=False, tensorboard=False,
                           threads=1)  # fmt: skip
    trainer = Trainer(m, config, train_data=data)
    names = [name for name, _ in trainer.param_sets]
    assert names == ["main", "discriminator"]
    g, d = snapshot(m.generator), snapshot(m.discriminator)
    metrics = trainer.train_step()
    assert changed(m.generator, g) and changed(m.discriminator, d)
    assert metrics["grad_norm"] > 0 and metrics["grad_norm_discriminator"] > 0
    assert {"d_margin", "spread_ratio", "discriminator"} <= set(metrics)


def test_the_generator_loss_gives_the_discriminator_no_gradient_to_keep() -> None:
    """Backward of the generator loss reaches D's weights (through D(G)), so the Trainer must
    drop those: the discriminator is moved by its own loss only."""
    m = model()
    batch = load_dataset("pendulum", "train").sample(4, 6, torch.Generator().manual_seed(0))
    out = m.loss(batch)
    out.total.backward()
    assert any(p.grad is not None for p in m.discriminator.parameters())
    assert all(not v.requires_grad for k, v in out.aux.items() if k == "gan.fake")


def test_save_load_parity(tmp_path) -> None:
    m = model()
    state = m.encode(torch.randn(2, 3))
    actions = torch.rand(2, 6, 1)
    torch.manual_seed(1)
    before = m.rollout(state, actions)
    loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "gan"))
    torch.manual_seed(1)
    after = loaded.rollout(LatentState(dict(state.tensors)), actions)
    assert torch.equal(before.latents["obs"], after.latents["obs"])
    assert torch.equal(before.rewards, after.rewards)
