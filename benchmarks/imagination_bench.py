"""Imagination speed of the generative families: imagined steps per second at batch 1 and 512.

    python benchmarks/imagination_bench.py                               # ci and base, CPU
    python benchmarks/imagination_bench.py --models token:base --batches 1,512 --horizon 10
    ./pants run benchmarks/imagination_bench.py -- --device cuda --threads 0

An imagined step is one candidate advanced by one action (rollout of N candidates over H steps =
N x H imagined steps): the token model samples K tokens per step through its KV cache, the
diffusion model runs its Euler sampler (3 denoiser calls per step). Models are untrained (speed
does not depend on the weights) and shaped like the gate data: the token model on `tokens`
observations (2 tokens per step, 5 discrete actions), the diffusion model on pendulum vectors
(obs 3, 1 continuous action); `--pixels` shapes both for 64x64 RGB frames instead. Each figure
is the best of --repeats timed rollouts after one warm-up.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import WorldModel, create_world_model

SHAPES: dict[str, dict[str, Any]] = {
    "token": {"obs_shape": (2,), "action_dim": 5, "action_kind": "discrete",
              "obs_modality": "tokens", "obs_vocab_size": 96},
    "diffusion": {"obs_shape": (3,), "action_dim": 1},
}  # fmt: skip
PIXELS: dict[str, Any] = {"obs_shape": (3, 64, 64), "action_dim": 1}


def build(model_id: str, pixels: bool, device: str) -> WorldModel:
    family = model_id.partition(":")[0]
    torch.manual_seed(0)
    return create_world_model(model_id, **(PIXELS if pixels else SHAPES[family]), device=device)


def observation(model: WorldModel, batch: int) -> torch.Tensor:
    shape = tuple(model.config.obs_shape)
    if model.config.obs_modality == "tokens":
        vocab = int(getattr(model.config, "obs_vocab_size", 0))
        return torch.randint(vocab, (batch, *shape)).float()
    return torch.rand(batch, *shape)


def actions(model: WorldModel, batch: int, horizon: int) -> torch.Tensor:
    spec = model.action_spec
    if spec.is_indexed:
        return torch.randint(spec.num_actions, (batch, horizon))
    return torch.rand(batch, horizon, spec.dim) * 2 - 1


def steps_per_second(model: WorldModel, batch: int, horizon: int, repeats: int) -> float:
    model.eval()
    device = model.device
    with torch.no_grad():
        state = model.encode(observation(model, batch).to(device))
        acts = actions(model, batch, horizon).to(device)
        model.rollout(state, acts)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model.rollout(state, acts)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
    return batch * horizon / best


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default="token:ci,diffusion:ci,token:base,diffusion:base")
    p.add_argument("--batches", default="1,512")
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    p.add_argument("--pixels", action="store_true", help="64x64 RGB observations")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(f"device {args.device}, {torch.get_num_threads()} threads, horizon {args.horizon}")
    for model_id in args.models.split(","):
        model = build(model_id, args.pixels, args.device)
        for batch in (int(b) for b in args.batches.split(",")):
            rate = steps_per_second(model, batch, args.horizon, args.repeats)
            rows.append({"model": model_id, "batch": batch, "steps_per_second": rate})
            print(
                f"{model_id:16s} {'pixels' if args.pixels else 'vectors':8s} batch {batch:4d}: "
                f"{rate:12.1f} imagined steps/s"
            )
    return rows


if __name__ == "__main__":
    main()
