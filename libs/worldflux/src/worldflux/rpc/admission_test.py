"""Admission control over real loopback calls: sized before work, chunked, cancelled, queued.

Each limit is tested at the figure that fits and one step over it.
"""

from __future__ import annotations

import threading
import time

import grpc
import pytest
import torch
from plugin_family.toy_family import ToyWorldModel

from worldflux.core import LatentState, Rollout
from worldflux.core.payload import ActionPayload, ConditionPayload
from worldflux.core.spec import ActionKind
from worldflux.planners import InProcessDynamics
from worldflux.rpc.admission import MB, ModelGate, WorkEstimate, rollout_estimate
from worldflux.rpc.conftest import StartDynamics, target, toy_model
from worldflux.rpc.convert import action_payload_to_proto, latent_state_to_proto
from worldflux.rpc.dynamics_servicer import DynamicsLimits, DynamicsServicer
from worldflux.rpc.errors import RemoteError
from worldflux.rpc.remote import RemoteDynamics
from worldflux.v1 import dynamics_pb2, dynamics_pb2_grpc

LATENT = 16  # the toy family's latent width (toy_model() in conftest)


class CountingToy(ToyWorldModel):
    """The toy family, counting rollout calls and sleeping `delay_s` in each."""

    delay_s = 0.0
    calls = 0

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        type(self).calls += 1
        time.sleep(self.delay_s)
        return super().rollout(state, actions, condition)


def counting_toy(delay_s: float = 0.0) -> CountingToy:
    config = toy_model().config
    torch.manual_seed(0)  # the same weights as toy_model()
    model = CountingToy(config)
    model.delay_s = delay_s
    CountingToy.calls = 0
    return model


def rollout_request(
    n: int, h: int, batch: int = 1, omit: bool = False
) -> dynamics_pb2.RolloutRequest:
    model = toy_model()
    state = model.encode(torch.arange(batch * 3, dtype=torch.float32).reshape(batch, 3))
    actions = torch.linspace(-1, 1, n * h * 2).reshape(n, h, 2)
    return dynamics_pb2.RolloutRequest(
        state=latent_state_to_proto(state),
        actions=action_payload_to_proto(ActionPayload(kind=ActionKind.CONTINUOUS, tensor=actions)),
        omit_latents=omit,
    )


def reply_bytes(n: int, h: int) -> int:
    return rollout_estimate(n, h, {"z": LATENT}, ["z"], 2).reply_bytes


def test_reply_size_is_checked_before_any_work(start_dynamics: StartDynamics) -> None:
    model = counting_toy()
    limit_mb = reply_bytes(16, 4) / MB
    servicer = DynamicsServicer(model, DynamicsLimits(max_reply_mb=limit_mb))
    server = start_dynamics(servicer=servicer)
    CountingToy.calls = 0
    with grpc.insecure_channel(target(server)) as channel:
        stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        assert stub.Rollout(rollout_request(16, 4), timeout=10).rewards.shape == [16, 4]
        assert CountingToy.calls == 1
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(rollout_request(17, 4), timeout=10)  # one candidate over
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "more than this server's message limit" in (info.value.details() or "")
        assert CountingToy.calls == 1  # refused before the model ran
        # Without latents the same request is small enough.
        assert stub.Rollout(rollout_request(17, 4, omit=True), timeout=10).rewards.shape == [17, 4]


def test_working_set_is_checked_before_any_work(start_dynamics: StartDynamics) -> None:
    estimate = rollout_estimate(64, 8, {"z": LATENT}, [], 2)
    whole = 64 * estimate.work_bytes_per_candidate + 2 * estimate.reply_bytes
    # The condition makes the rollout run whole, so its working set is all 64 candidates.
    limits = DynamicsLimits(max_request_mb=whole / MB)
    server = start_dynamics(servicer=DynamicsServicer(counting_toy(), limits))
    goal = ConditionPayload(goal=torch.zeros(1, 3))
    with RemoteDynamics(target(server)) as remote:
        state = remote.encode(torch.zeros(1, 3))
        rewards = remote.rollout(state, torch.zeros(64, 8, 2), goal, latents=()).rewards
        assert rewards is not None and rewards.shape == (64, 8)
        with pytest.raises(RemoteError, match="more than this server's memory limit per") as info:
            remote.rollout(state, torch.zeros(65, 8, 2), goal, latents=())  # one candidate over
        assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("batch", [1, 2])
def test_chunked_rollout_equals_the_whole_rollout(
    start_dynamics: StartDynamics, batch: int
) -> None:
    model = counting_toy()
    per_candidate = rollout_estimate(1, 5, {"z": LATENT}, ["z"], 2).work_bytes_per_candidate
    limits = DynamicsLimits(chunk_mb=3 * per_candidate / MB)  # 3 candidates per chunk
    server = start_dynamics(servicer=DynamicsServicer(model, limits))
    obs = torch.arange(batch * 3, dtype=torch.float32).reshape(batch, 3)
    actions = torch.linspace(-1, 1, 10 * 5 * 2).reshape(10, 5, 2)
    local = InProcessDynamics(toy_model())
    expected = local.rollout(local.encode(obs), actions)
    CountingToy.calls = 0
    with RemoteDynamics(target(server)) as remote:
        got = remote.rollout(remote.encode(obs), actions)
    assert CountingToy.calls == 4  # ceil(10 / 3) chunks
    # Equal up to float rounding: a matrix product over 3 rows may round differently than
    # over 10 (so only requests beyond chunk_mb are chunked). A wrong grouping of candidates
    # per state would differ by far more.
    assert got.latents["z"].shape == expected.latents["z"].shape
    torch.testing.assert_close(got.latents["z"], expected.latents["z"], rtol=1e-5, atol=1e-6)
    for name in ("rewards", "continues", "values"):
        want, have = getattr(expected, name), getattr(got, name)
        assert (want is None) == (have is None)
        if want is not None:
            torch.testing.assert_close(have, want, rtol=1e-5, atol=1e-6)


def test_a_deadline_stops_chunked_work_and_frees_the_model(start_dynamics: StartDynamics) -> None:
    model = counting_toy(delay_s=0.1)
    per_candidate = rollout_estimate(1, 2, {"z": LATENT}, ["z"], 2).work_bytes_per_candidate
    limits = DynamicsLimits(chunk_mb=per_candidate / MB)  # one candidate per chunk: 100 chunks
    server = start_dynamics(servicer=DynamicsServicer(model, limits))
    with grpc.insecure_channel(target(server)) as channel:
        stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        CountingToy.calls = 0
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(rollout_request(100, 2), timeout=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(0.3)
        stopped_at = CountingToy.calls
        assert stopped_at <= 8, f"{stopped_at} chunks ran for a 0.5 s deadline"
        time.sleep(0.3)
        assert CountingToy.calls == stopped_at  # nothing runs after the deadline
        # A client that cancels stops the work the same way.
        CountingToy.calls = 0
        future = stub.Rollout.future(rollout_request(100, 2), timeout=30)
        time.sleep(0.35)
        future.cancel()
        time.sleep(0.3)
        cancelled_at = CountingToy.calls
        time.sleep(0.3)
        assert cancelled_at <= 8 and CountingToy.calls == cancelled_at
        start = time.monotonic()
        stub.Rollout(rollout_request(2, 2), timeout=5)
        assert time.monotonic() - start < 1.0


def test_full_queue_is_refused_at_once_and_waiting_stops_at_the_deadline(
    start_dynamics: StartDynamics,
) -> None:
    model = counting_toy(delay_s=1.5)
    server = start_dynamics(servicer=DynamicsServicer(model, DynamicsLimits(max_queued=1)))
    CountingToy.calls = 0  # (the start-up probe rolled out once)
    with grpc.insecure_channel(target(server)) as channel:
        stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        running = stub.Rollout.future(rollout_request(1, 1), timeout=10)
        time.sleep(0.3)  # it holds the model now
        waiting = stub.Rollout.future(rollout_request(1, 1), timeout=10)  # queue: 1 of 1
        time.sleep(0.2)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(rollout_request(1, 1), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue limit is 1" in (info.value.details() or "")
        assert time.monotonic() - start < 0.5
        assert running.result().rewards.shape == [1, 1]
        assert waiting.result().rewards.shape == [1, 1]
        # A caller whose deadline passes while it waits gives the queue place up then, not
        # when the model is free.
        running = stub.Rollout.future(rollout_request(1, 1), timeout=10)
        time.sleep(0.3)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(rollout_request(1, 1), timeout=0.3)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 0.8
        running.result()
        assert CountingToy.calls == 3  # the expired caller never ran


def test_estimates_and_limits() -> None:
    estimate = WorkEstimate(reply_bytes=0, work_bytes_per_candidate=100)
    assert estimate.chunk_candidates(1000) == 10
    assert estimate.chunk_candidates(1099) == 10
    assert estimate.chunk_candidates(50) == 1  # never zero
    assert estimate.chunk_candidates(1000, multiple=4) == 8
    with pytest.raises(ValueError, match="max_waiting"):
        ModelGate(max_waiting=-1)
    with pytest.raises(ValueError, match="chunk_mb must be positive"):
        DynamicsLimits(chunk_mb=0)


def test_tdmpc2_sized_request_from_the_issue_is_refused_before_work() -> None:
    """65536 candidates x 32 steps with a 512-wide latent: 4 GiB of answer."""
    estimate = rollout_estimate(65536, 32, {"z": 512}, ["z"], 6)
    assert estimate.reply_bytes > 4 * (1 << 30)
    omitted = rollout_estimate(65536, 32, {"z": 512}, [], 6)
    assert omitted.reply_bytes < 64 * MB


def test_propose_is_sized_before_work(start_dynamics: StartDynamics) -> None:
    """The issue's Propose (H=512, 65536 samples: 118 s, 5.4 GB) is refused at once; the
    largest answer that fits passes and one sample more does not."""
    from worldflux.rpc.admission import propose_estimate
    from worldflux.rpc.conftest import PriorToy

    torch.manual_seed(0)
    model = PriorToy(toy_model().config)
    fits = propose_estimate(64, 8, LATENT, 2).reply_bytes
    server = start_dynamics(
        servicer=DynamicsServicer(model, DynamicsLimits(max_reply_mb=fits / MB))
    )
    with grpc.insecure_channel(target(server)) as channel:
        stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        state = latent_state_to_proto(model.encode(torch.zeros(1, 3)))

        def propose(horizon: int, samples: int) -> dynamics_pb2.ProposeResponse:
            request = dynamics_pb2.ProposeRequest(state=state, horizon=horizon, num_samples=samples)
            return stub.Propose(request, timeout=10)

        assert list(propose(8, 64).actions.tensor.shape) == [64, 8, 2]
        for horizon, samples in ((8, 65), (512, 65536)):
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                propose(horizon, samples)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "ProposeRequest: the answer would be" in (info.value.details() or "")
            assert time.monotonic() - start < 1.0


def test_model_time_is_estimated_before_work(start_dynamics: StartDynamics) -> None:
    import dataclasses

    servicer = DynamicsServicer(counting_toy())
    assert servicer.step_seconds > 0  # measured at start-up
    servicer.limits = dataclasses.replace(
        servicer.limits, max_request_s=16 * 4 * servicer.step_seconds
    )
    server = start_dynamics(servicer=servicer)
    with grpc.insecure_channel(target(server)) as channel:
        stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        assert stub.Rollout(rollout_request(16, 4), timeout=10).rewards.shape == [16, 4]
        CountingToy.calls = 0
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(rollout_request(17, 4), timeout=10)  # one candidate over
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "of model time (17 x 4 candidate-steps" in (info.value.details() or "")
        assert CountingToy.calls == 0


class _Caller:
    """A caller that stays: what _chunked_rollout asks of a gRPC context."""

    def is_active(self) -> bool:
        return True

    def time_remaining(self) -> None:
        return None


def test_omitted_latents_are_not_kept_between_chunks() -> None:
    """With omit_latents the chunks keep width-0 placeholders only: the answer's memory is
    rewards and values, not N x H x latent width (4 GB for the issue's tdmpc2 request)."""
    model = counting_toy()
    servicer = DynamicsServicer(model)
    state = model.encode(torch.zeros(1, 3))
    actions = torch.zeros(10, 5, 2)
    omitted = servicer._chunked_rollout(
        _Caller(), state, actions, 3, names=["z"], keep=[]  # type: ignore[arg-type]
    )
    assert omitted.latents["z"].shape == (10, 5, 0)
    assert omitted.rewards is not None and omitted.rewards.shape == (10, 5)
    kept = servicer._chunked_rollout(
        _Caller(), state, actions, 3, names=["z"], keep=["z"]  # type: ignore[arg-type]
    )
    assert kept.latents["z"].shape == (10, 5, LATENT)


def test_clients_wait_politely_for_a_busy_replica(start_dynamics: StartDynamics) -> None:
    """A replica with no queue (max_queued=0) refuses every call that would wait; RemoteDynamics
    takes "busy" (RESOURCE_EXHAUSTED with the busy mark) as a reason to retry after a pause,
    so four concurrent callers all get their rollout, and a "too large" refusal is not retried."""
    model = counting_toy(delay_s=0.2)
    server = start_dynamics(servicer=DynamicsServicer(model, DynamicsLimits(max_queued=0)))
    results: list[object] = []
    with RemoteDynamics(target(server), timeout_s=10) as remote:
        state = remote.encode(torch.zeros(1, 3))

        def call() -> None:
            try:
                results.append(remote.rollout(state, torch.zeros(2, 2, 2)).rewards)
            except Exception as err:  # (asserted below)
                results.append(err)

        workers = [threading.Thread(target=call) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(20)
        assert all(isinstance(r, torch.Tensor) for r in results), results
        # A too-large request is refused once, at once: no retries.
        start = time.monotonic()
        with pytest.raises(RemoteError) as info:
            remote.rollout(state, torch.zeros(70000, 2, 2))
        assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - start < 1.0
