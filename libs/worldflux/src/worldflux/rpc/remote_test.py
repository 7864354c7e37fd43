import time
import urllib.request

import grpc
import pytest
import torch

from worldflux.core import ContractError
from worldflux.planners.dynamics import Dynamics, InProcessDynamics
from worldflux.rpc.conftest import (
    PriorToy,
    SlowServicer,
    StartDynamics,
    free_port,
    target,
    toy_model,
)
from worldflux.rpc.errors import ContractChangedError, DeadlineError, NoReplicaError
from worldflux.rpc.remote import RemoteDynamics


def test_remote_matches_in_process_bit_for_bit(start_dynamics: StartDynamics) -> None:
    model = toy_model()
    server = start_dynamics(model)
    local = InProcessDynamics(model)
    with RemoteDynamics(target(server)) as remote:
        assert isinstance(remote, Dynamics)
        assert remote.spec == model.spec
        assert remote.fingerprint == model.fingerprint()
        obs = torch.randn(2, 3, generator=torch.Generator().manual_seed(1))
        state = remote.encode(obs)
        assert torch.equal(state["z"], local.encode(obs)["z"])
        actions = torch.rand(6, 4, 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
        got, want = remote.rollout(state, actions), local.rollout(state, actions)
        assert torch.equal(got.latents["z"], want.latents["z"])
        assert got.rewards is not None and want.rewards is not None
        assert torch.equal(got.rewards, want.rewards)
        assert remote.propose(state, 4, 3) is None  # the toy has no prior


def test_discrete_actions_travel_as_tokens(start_dynamics: StartDynamics) -> None:
    model = toy_model(action_kind="discrete", action_dim=3)
    server = start_dynamics(model)
    with RemoteDynamics(target(server)) as remote:
        state = remote.encode(torch.zeros(1, 3))
        actions = torch.tensor([[0, 1, 2], [2, 2, 0]])
        got = remote.rollout(state, actions)
        want = InProcessDynamics(model).rollout(state, actions)
        assert torch.equal(got.latents["z"], want.latents["z"])


def test_propose_and_observe_reach_the_model(start_dynamics: StartDynamics) -> None:
    torch.manual_seed(0)
    model = PriorToy(toy_model().config)
    server = start_dynamics(model)
    with RemoteDynamics(target(server)) as remote:
        assert remote.spec.has_policy_prior
        state = remote.encode(torch.ones(2, 3))
        proposal = remote.propose(state, horizon=3, num_samples=4)
        assert proposal is not None and proposal.shape == (8, 3, 2)
        assert torch.equal(proposal, model.propose(state, 3, 4))
        posterior = remote.observe(state, torch.zeros(2, 2), torch.full((2, 3), 0.5))
        assert torch.equal(posterior["z"], model.encode(torch.full((2, 3), 0.5))["z"].detach())


def test_selected_latents_only_are_sent(start_dynamics: StartDynamics) -> None:
    server = start_dynamics()
    with RemoteDynamics(target(server)) as remote:
        state = remote.encode(torch.zeros(1, 3))
        rollout = remote.rollout(state, torch.zeros(2, 2, 2), latents=["z"])
        assert list(rollout.latents) == ["z"]
        assert remote.rollout(state, torch.zeros(2, 2, 2)).latents["z"].shape[-1] > 0  # all
        rollout = remote.rollout(state, torch.zeros(2, 2, 2), latents=())
        assert rollout.latents["z"].shape == (2, 2, 0)  # names kept, no values sent
        full = InProcessDynamics(toy_model()).rollout(state, torch.zeros(2, 2, 2))
        assert rollout.rewards is not None and full.rewards is not None
        assert torch.equal(rollout.rewards, full.rewards)
    with (
        RemoteDynamics(target(server)) as remote,
        pytest.raises(
            ContractError,
            match=r"RolloutRequest.latents names \['nope'\], but rollouts have \['z'\]",
        ),
    ):
        remote.rollout(remote.encode(torch.zeros(1, 3)), torch.zeros(2, 2, 2), latents=["nope"])


def test_round_robin_spreads_and_fails_over_when_a_replica_dies(
    start_dynamics: StartDynamics,
) -> None:
    first, second = start_dynamics(), start_dynamics()
    with RemoteDynamics([target(first), target(second)], timeout_s=10.0) as remote:
        state = remote.encode(torch.zeros(1, 3))
        actions = torch.zeros(4, 3, 2)
        expected = remote.rollout(state, actions).rewards
        with remote.scope() as before:
            for _ in range(4):
                remote.rollout(state, actions)
        assert sorted(before.targets) == sorted([target(first), target(second)])
        assert before.failovers == 0

        first.drain(0)  # the replica dies mid-plan
        start = time.monotonic()
        with remote.scope() as after:
            results = [remote.rollout(state, actions).rewards for _ in range(4)]
        # Refused connections fail fast: no per-call deadline (10 s here) is spent waiting.
        assert time.monotonic() - start < 5.0
        assert after.failovers == 1  # marked down once, then skipped
        assert after.targets == [target(second)]
        assert all(torch.equal(r, expected) for r in results)  # type: ignore[arg-type]
        status = {s["target"]: s for s in remote.replica_status()}
        assert status[target(first)]["down"] is True


def test_one_multi_address_target_balances_with_round_robin(
    start_dynamics: StartDynamics,
) -> None:
    """A gRPC URI naming several addresses (as a DNS name with several records resolves) is
    one target whose channel spreads calls over all of them."""
    first, second = start_dynamics(metrics_port=0), start_dynamics(metrics_port=0)
    uri = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
    with RemoteDynamics(uri) as remote:
        state = remote.encode(torch.zeros(1, 3))
        for _ in range(8):
            remote.rollout(state, torch.zeros(2, 2, 2))
    for server in (first, second):
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        served = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("wf_rpc_requests_total{") and "Rollout" in line
        ]
        assert sum(served) >= 2, text


def test_dead_target_in_the_list_costs_no_deadline(start_dynamics: StartDynamics) -> None:
    live = start_dynamics()
    dead = f"127.0.0.1:{free_port()}"
    with RemoteDynamics([dead, target(live)], policy="failover") as remote:
        start = time.monotonic()
        remote.rollout(remote.encode(torch.zeros(1, 3)), torch.zeros(2, 2, 2))
        assert time.monotonic() - start < remote.timeout_s


def test_hung_replica_costs_one_deadline_then_is_skipped(start_dynamics: StartDynamics) -> None:
    slow = SlowServicer(toy_model(), delay_s=10.0)
    hung, healthy = start_dynamics(servicer=slow), start_dynamics()
    try:
        with RemoteDynamics(
            [target(hung), target(healthy)], policy="failover", timeout_s=0.5
        ) as remote:
            state = remote.encode(torch.zeros(1, 3))
            with remote.scope() as scope:
                start = time.monotonic()
                remote.rollout(state, torch.zeros(2, 2, 2))
                first = time.monotonic() - start
                start = time.monotonic()
                remote.rollout(state, torch.zeros(2, 2, 2))
                second = time.monotonic() - start
            assert first >= 0.5  # one deadline spent on the hung replica...
            assert first < 5.0  # ...and only one (the replica would hang for 10 s)
            assert second < first  # then it is skipped, not waited on again
            assert scope.failovers == 1
            assert scope.last_target == target(healthy)
    finally:
        slow.release.set()


def test_scope_deadline_bounds_every_call(start_dynamics: StartDynamics) -> None:
    slow = SlowServicer(toy_model(), delay_s=10.0)
    server = start_dynamics(servicer=slow)
    try:
        with RemoteDynamics(target(server), timeout_s=30.0) as remote:
            state = remote.encode(torch.zeros(1, 3))
            start = time.monotonic()
            with remote.scope(timeout_s=0.3), pytest.raises(DeadlineError):
                remote.rollout(state, torch.zeros(2, 2, 2))
            assert time.monotonic() - start < 5.0  # the server would sleep for 10 s
            with remote.scope(timeout_s=0.0), pytest.raises(DeadlineError, match="ran out"):
                remote.encode(torch.zeros(1, 3))
    finally:
        slow.release.set()


def test_replica_with_another_model_is_never_used(start_dynamics: StartDynamics) -> None:
    same, other = start_dynamics(), start_dynamics(toy_model(latent_dim=8))
    with RemoteDynamics([target(same), target(other)]) as remote:
        assert remote.spec.latent == {"z": (16,)}  # the first replica sets the contract
        state = remote.encode(torch.zeros(1, 3))
        for _ in range(3):
            assert remote.rollout(state, torch.zeros(2, 2, 2)).latents["z"].shape == (2, 2, 16)
        status = {s["target"]: s for s in remote.replica_status()}
        assert "fingerprint" in str(status[target(other)]["incompatible"])
    with RemoteDynamics(target(other)) as only_other, RemoteDynamics(target(same)) as only_same:
        assert only_other.fingerprint != only_same.fingerprint


def test_swapped_model_is_adopted_after_one_contract_changed_error(
    start_dynamics: StartDynamics,
) -> None:
    old, new = start_dynamics(), start_dynamics(toy_model(latent_dim=8))
    with RemoteDynamics([target(old), target(new)], policy="failover") as remote:
        assert remote.spec.latent == {"z": (16,)}
        remote.encode(torch.zeros(1, 3))
        old.drain(0)  # the redeployment: only the other model is left
        with pytest.raises(ContractChangedError, match="now serve toy:ci") as info:
            remote.encode(torch.zeros(1, 3))
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        assert remote.spec.latent == {"z": (8,)}
        state = remote.encode(torch.zeros(1, 3))
        assert remote.rollout(state, torch.zeros(2, 2, 2)).latents["z"].shape == (2, 2, 8)


def test_all_replicas_down_is_unavailable_not_a_hang() -> None:
    with RemoteDynamics([f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]) as remote:
        start = time.monotonic()
        with pytest.raises(NoReplicaError) as info:
            _ = remote.spec
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        assert "no dynamics replica answered (2 configured)" in str(info.value)
        assert time.monotonic() - start < remote.reconnect_wait_s + 3.0


def test_restarted_replica_is_used_again_without_an_error(start_dynamics: StartDynamics) -> None:
    first = start_dynamics()
    port = first.port
    with RemoteDynamics(f"127.0.0.1:{port}") as remote:
        state = remote.encode(torch.zeros(1, 3))
        first.drain(0)
        with pytest.raises(NoReplicaError):
            remote.rollout(state, torch.zeros(2, 2, 2))  # nobody there
        start_dynamics(port=port)  # the same model comes back on the same address
        rollout = remote.rollout(state, torch.zeros(2, 2, 2))
        assert rollout.latents["z"].shape == (2, 2, 16)


def test_bad_input_comes_back_as_contract_error(start_dynamics: StartDynamics) -> None:
    server = start_dynamics()
    with RemoteDynamics(target(server)) as remote:
        state = remote.encode(torch.zeros(2, 3))
        with pytest.raises(ContractError, match=r"expected \[N, H, 2\]"):
            remote.rollout(state, torch.zeros(4, 3, 5))
        with pytest.raises(ContractError, match="N=3 candidates cannot be split evenly"):
            remote.rollout(state, torch.zeros(3, 3, 2))


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="at least one target"):
        RemoteDynamics([])
    with pytest.raises(ValueError, match="policy 'random'"):
        RemoteDynamics("127.0.0.1:1", policy="random")
