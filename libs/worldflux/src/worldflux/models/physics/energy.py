"""Energy drift of imagined rollouts, measured with a known energy of the observations.

The bundled pendulum (gymnasium Pendulum-v1, observations [cos theta, sin theta, theta'], theta
= 0 upright) conserves E = theta'^2 / 2 + 15 cos theta without torque. `energy_drift_curve`
imagines zero-action rollouts from real states, decodes them and reports the mean |E_t - E_0|
per step, relative to the potential's amplitude 15; a symplectic model keeps it bounded, an
unconstrained one lets it grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worldflux.core import ContractError, LatentState

if TYPE_CHECKING:
    from worldflux.core import WorldModel

PENDULUM_A = 15.0  # 3 g / (2 l) with gymnasium's g = 10, l = 1


def pendulum_energy(obs: torch.Tensor) -> torch.Tensor:
    """E [...] of pendulum observations [..., 3]."""
    return 0.5 * obs[..., 2].square() + PENDULUM_A * obs[..., 0]


ENERGY_FUNCTIONS = {"pendulum": pendulum_energy}


@torch.no_grad()
def energy_drift_curve(
    model: WorldModel, obs: torch.Tensor, steps: int, energy: str = "pendulum"
) -> torch.Tensor:
    """Mean relative |E_t - E_0| [steps] of zero-action rollouts from observations [B, D]."""
    if energy not in ENERGY_FUNCTIONS:
        raise ContractError(f"no known energy {energy!r}; one of {sorted(ENERGY_FUNCTIONS)}")
    fn = ENERGY_FUNCTIONS[energy]
    state = model.encode(obs)
    actions = torch.zeros(obs.shape[0], steps, model.action_spec.dim, device=model.device)
    rollout = model.rollout(state, actions)
    predicted = model.decode(LatentState(dict(rollout.latents)))
    start = fn(obs.to(predicted.device))[:, None]
    return ((fn(predicted) - start).abs() / PENDULUM_A).mean(0)


def energy_drift(
    model: WorldModel, obs: torch.Tensor, steps: int, energy: str = "pendulum"
) -> float:
    """The mean of energy_drift_curve over the rollout: one number per model."""
    return float(energy_drift_curve(model, obs, steps, energy).mean())
