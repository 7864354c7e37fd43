"""Train the DiT world model (a diffusion transformer over patches of the next frame) with the
generic Trainer, then imagine and plan.

    python examples/train_dit.py --test              # seconds: ci size, pendulum pixels
    python examples/train_dit.py --size ci --steps 1200
    python examples/train_dit.py --size base --device cuda --steps 50000 --output-dir runs/dit

Held-out losses (denoising error overall and per noise level, reward) are printed before and
after; the model imagines 5 frames (Euler sampler, seeded) from a held-out frame and plans one
action with the planner `auto` picks. The trained model is saved under <output-dir>/model and
reloads with `create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from family_example import FamilyExample, parse_args, run

from worldflux.models.dit import SIZES, DiTConfig
from worldflux.training import TrainResult

EXAMPLE = FamilyExample(
    family="dit",
    sizes=tuple(SIZES),
    dataset="pendulum-pixels",
    lr=DiTConfig.lr,
    metric="denoise_error",
    test_settings={"size": "ci", "steps": 30, "batch_size": 8, "seq_len": 3, "eval_batches": 2,
                   "lr": 1e-3},  # fmt: skip
    seq_len=3,
)


def main(argv: Sequence[str] | None = None) -> TrainResult:
    return run(EXAMPLE, parse_args(EXAMPLE, __doc__, argv))


if __name__ == "__main__":
    main(sys.argv[1:])
