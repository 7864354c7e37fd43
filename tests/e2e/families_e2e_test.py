"""Planner-boundary gate over real sockets: one planner process, started once with one command
line, plans for every family that can be planned with while the dynamics service behind its one
address is redeployed with each family in turn. Nothing about the planner changes: not its code,
not its flags, not even its process.

A family missing from the catalogue is a failure, never a skip: a skipped case would let a family
silently drop out of the gate.

Remote equals local: a plan through the two services must equal, bit for bit, the plan the same
planner makes in this process with the same weights and seed, and the same observation must get
the same plan again, as the planner's docs promise (every Plan call starts from the configured
seed). Fresh TD-MPC2/DreamerV3 weights cannot show this: their reward and value heads start at
zero, so every candidate scores the same and the plan does not depend on the model at all. The
parity test therefore serves perturbed weights from a checkpoint and checks that another
observation gets another plan (the comparison has power). TD-MPC2 and DreamerV3 sample inside
rollout and propose (TD-MPC2's random pair of Q heads and policy noise, DreamerV3's latent and
actor samples): every dynamics call, in process and in the service, seeds torch's RNG from its
own inputs (worldflux.planners.dynamics.content_seed), so their plans match bit for bit too.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import plugin_family.toy_family  # noqa: F401  (registers "toy" for the in-process twin)
import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families here too)
from e2e import procs
from wf_planner.client import PlannerClient
from worldflux.core import (
    PLANNER_HORIZON_KEY,
    ActionKind,
    WorldModel,
    create_world_model,
    get_family,
    list_models,
)
from worldflux.gates.kinds import default_dataset
from worldflux.planners import InProcessDynamics, make_planner
from worldflux.rpc.remote import RemoteDynamics

HORIZON = 3
# The planner service's flags, and the same settings for make_planner in this process.
PLANNER_FLAGS = ["--horizon", str(HORIZON), "--iterations", "3", "--samples", "64"]
PLANNER_FLAGS += ["--elites", "8", "--pi-trajs", "4", "--seed", "0"]
PLAN_SEED = 0  # the planner service's --seed: each Plan call's generator starts from it
# The parity test's planner: the swap test's settings, in flags and for make_planner.
PARITY_FLAGS = ["--horizon", str(HORIZON), "--iterations", "3", "--samples", "64"]
PARITY_FLAGS += ["--elites", "8", "--pi-trajs", "4", "--seed", str(PLAN_SEED)]
PARITY_SETTINGS = {
    "horizon": HORIZON,
    "iterations": 3,
    "num_samples": 64,
    "num_elites": 8,
    "num_pi_trajs": 4,
    "seed": PLAN_SEED,
}


def pendulum_families() -> list[str]:
    """Every registered family (list_models(), at its ci size) that gates on the bundled pendulum:
    vector observations [3], one continuous action and a reward, so one command line serves it
    and the planner plans for it with no goal. A new family of that kind joins the swap test by
    registering; families on pixels, video or tokens are served and planned in process by the
    contract suite (tests/contract, over every family), since each would need its own
    observation shape here and a socket deployment costs seconds per family."""
    ids = []
    for model_id in list_models():
        name, _, size = model_id.partition(":")
        if size == "ci" and default_dataset(get_family(name).model_class) == "pendulum":
            ids.append(model_id)
    return ids


# family id, dynamics flags, observation, expected kind, planner picked by --planner auto
FAMILIES = [
    ("toy:ci", procs.toy_args(), (3,), ActionKind.CONTINUOUS, "mppi"),
    (
        "toy:ci (discrete)",
        [*procs.toy_args(), "--action-kind", "discrete", "--action-dim", "3"],
        (3,),
        ActionKind.DISCRETE,
        "discrete-cem",
    ),
] + [
    (model_id, ["--model", model_id, "--obs-shape", "3", "--action-dim", "1"], (3,),
     ActionKind.CONTINUOUS, "mppi")
    for model_id in pendulum_families() if not model_id.startswith("toy:")
]  # fmt: skip
# The families this gate always covers, whatever else registers.
REQUIRED = {"tdmpc2:ci", "dreamerv3:ci"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """The fixed dynamics address the planner knows, and whatever currently serves it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.current: procs.Service | None = None
        self.planner = procs.planner("--dynamics", f"127.0.0.1:{self.port}", *PLANNER_FLAGS)
        procs.start_all(self.planner)

    def deploy(self, flags: list[str], name: str) -> procs.Service:
        if self.current is not None:
            assert self.current.stop() == 0  # drained cleanly
        service = procs.Service(
            "wf_dynamics.main", ["--port", str(self.port), *flags], f"dynamics-{name}"
        )
        self.current = service
        return service.wait_ready()

    def stop(self) -> None:
        for service in (self.planner, self.current):
            if service is not None:
                service.stop(5)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    running = Deployment()
    yield running
    running.stop()


def available(model_id: str) -> bool:
    family = model_id.split(":")[0]
    return any(m.startswith(family + ":") for m in list_models())


def perturbed_model(model_id: str) -> WorldModel:
    """Seeded weights plus seeded noise on every parameter, so that the zero-initialised reward
    and value heads score candidates differently and the plan depends on the model."""
    torch.manual_seed(0)
    model = create_world_model(model_id, obs_shape=(3,), action_dim=1)
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn(param.shape, generator=noise).to(param.dtype))
    return model


def plan_in_process(model: WorldModel, obs: torch.Tensor) -> torch.Tensor:
    """The action tensor make_planner("auto") plans in this process (one thread, like the
    services, so that the kernels sum in the same order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        planner = make_planner("auto", **PARITY_SETTINGS)
        result = planner.plan(
            InProcessDynamics(model), obs, generator=torch.Generator().manual_seed(PLAN_SEED)
        )
    finally:
        torch.set_num_threads(threads)
    primary = result.action.primary
    assert isinstance(primary, torch.Tensor)
    return primary


def test_every_family_of_the_gate_is_in_the_catalogue() -> None:
    """The cases below fail (not skip) for a missing family; this says which, up front."""
    missing = [f[0] for f in FAMILIES if not available(f[0])]
    missing += sorted(REQUIRED - {f[0] for f in FAMILIES})
    assert missing == [], f"families missing from worldflux.models.catalog: {missing}"


@pytest.mark.parametrize(
    ("model_id", "flags", "obs_shape", "kind", "planner_name"),
    FAMILIES,
    ids=[f[0] for f in FAMILIES],
)
def test_swapping_the_family_needs_no_planner_change(
    deployment: Deployment,
    model_id: str,
    flags: list[str],
    obs_shape: tuple[int, ...],
    kind: ActionKind,
    planner_name: str,
) -> None:
    assert available(
        model_id
    ), f"{model_id.split(':')[0]} is not in worldflux.models.catalog: this gate case cannot run"
    served = deployment.deploy(flags, model_id.split(" ")[0].replace(":", "-"))
    assert served.ready["model_id"] == model_id.split(" ")[0]
    obs = torch.randn(2, *obs_shape, generator=torch.Generator().manual_seed(0))
    with PlannerClient(deployment.planner.target) as client:
        action, stats = client.plan(obs, timeout_s=120)
        again, _ = client.plan(obs, timeout_s=120)
    assert action.kind is kind
    assert action.extras[PLANNER_HORIZON_KEY] == HORIZON
    assert action.extras["wf.planner.name"] == planner_name
    primary = action.primary
    assert isinstance(primary, torch.Tensor)
    expected = (HORIZON, 2, 1) if kind is ActionKind.CONTINUOUS else (HORIZON, 2)
    assert primary.shape == expected
    if kind is ActionKind.CONTINUOUS:
        assert bool(((primary >= -1) & (primary <= 1)).all())  # within the action bounds
    else:
        assert bool(((primary >= 0) & (primary < 3)).all())
    assert stats.rollout_calls == 3 and stats.dynamics_target == f"127.0.0.1:{deployment.port}"
    # The same observation gets the same plan (each Plan call starts from the seed).
    assert isinstance(again.primary, torch.Tensor) and torch.equal(again.primary, primary)


@pytest.mark.parametrize("model_id", ["toy:ci", "tdmpc2:ci", "dreamerv3:ci"])
def test_remote_plan_equals_in_process_plan_bit_for_bit(tmp_path, model_id: str) -> None:
    model = perturbed_model(model_id)
    path = model.save_pretrained(tmp_path / "model")
    plugin = ["--plugin", "plugin_family.toy_family"] if model_id.startswith("toy:") else []
    family = model_id.split(":")[0]
    dynamics = procs.dynamics("--checkpoint", str(path), *plugin, name=f"dynamics-{family}")
    procs.start_all(dynamics)
    planner = procs.planner("--dynamics", dynamics.target, *PARITY_FLAGS, name=f"planner-{family}")
    obs = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))
    other = torch.randn(2, 3, generator=torch.Generator().manual_seed(5))
    try:
        procs.start_all(planner)
        with PlannerClient(planner.target) as client:
            remote = [client.plan(o, timeout_s=120)[0].primary for o in (obs, obs, other)]
    finally:
        planner.stop(5)
        dynamics.stop(5)
    local = [plan_in_process(model, o) for o in (obs, other)]
    assert all(isinstance(r, torch.Tensor) for r in remote)
    # The comparison has power: another observation gets another plan from this model.
    assert not torch.equal(local[0], local[1]), f"{model_id}: the plan ignores the observation"
    for got, want, name in ((remote[0], local[0], "obs"), (remote[2], local[1], "other obs")):
        assert isinstance(got, torch.Tensor) and got.dtype == want.dtype
        assert got.shape == want.shape == (HORIZON, 2, 1)
        assert torch.equal(got, want), (
            f"{model_id}, {name}: remote and in-process plans differ by up to "
            f"{float((got.double() - want.double()).abs().max())}"
        )
    assert isinstance(remote[1], torch.Tensor) and torch.equal(remote[1], remote[0])


def test_remote_tdmpc2_dynamics_equal_in_process_where_it_draws_nothing(tmp_path) -> None:
    """Below the planner, without the RNG defect: RemoteDynamics against a dynamics service must
    return what InProcessDynamics returns, bit for bit, for every output TD-MPC2 computes without
    random numbers (checked here: the same under any global seed): the encoding, the latent
    rollout and the rewards (its terminal values use a random pair of Q heads and policy noise).
    DreamerV3 has no such output that depends on the input: its encoding samples the stochastic
    half, and the deterministic half is the initial recurrent state, the same for every input."""
    model = perturbed_model("tdmpc2:ci")
    path = model.save_pretrained(tmp_path / "model")
    dynamics = procs.dynamics("--checkpoint", str(path), name="dynamics-det-tdmpc2")
    obs = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    actions = torch.rand(4, HORIZON, 1, generator=torch.Generator().manual_seed(1)) * 2 - 1
    local = InProcessDynamics(model)
    want_state = local.encode(obs)
    want = local.rollout(want_state, actions)
    try:
        procs.start_all(dynamics)
        with RemoteDynamics(dynamics.target, timeout_s=60) as remote:
            got_state = remote.encode(obs)
            # The same state on both sides, so the rollouts differ only if the wire changes them.
            got = remote.rollout(want_state, actions)
    finally:
        dynamics.stop(5)
    assert torch.equal(got_state.tensors["z"], want_state.tensors["z"]), "encode z"
    assert torch.equal(got.latents["z"], want.latents["z"]), "rollout latents z"
    assert torch.equal(got.rewards, want.rewards), "rollout rewards"
    # The comparison has power: other observations and other actions give other answers.
    other = local.encode(torch.randn(4, 3, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(other.tensors["z"], want_state.tensors["z"])
    assert not torch.equal(local.rollout(want_state, -actions).rewards, want.rewards)
