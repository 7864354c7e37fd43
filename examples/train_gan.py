"""Train the GAN world model (conditional generator of next observations against a separate
discriminator, two optimizers in alternation) with the generic Trainer, then imagine and plan.

    python examples/train_gan.py --test              # seconds: ci size, pendulum
    python examples/train_gan.py --size ci --steps 1000 --lr 1e-3 --config disc_lr=4e-3
    python examples/train_gan.py --size base --device cuda --steps 20000 --output-dir runs/gan

Held-out losses and the stability measures (`d_accuracy`, `d_margin`,
`spread_ratio`, see the family page) are printed before and after; the model imagines 5 steps
(noise seeded) from a held-out observation and plans one action with the planner `auto` picks.
The trained model is saved under <output-dir>/model and reloads with
`create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from family_example import FamilyExample, parse_args, run

from worldflux.models.gan import SIZES, GANConfig
from worldflux.training import TrainResult

EXAMPLE = FamilyExample(
    family="gan",
    sizes=tuple(SIZES),
    dataset="pendulum",
    lr=GANConfig.lr,
    metric="next_obs",
    test_settings={"size": "ci", "steps": 40, "batch_size": 8, "seq_len": 8, "eval_batches": 2,
                   "lr": 1e-3},  # fmt: skip
)


def main(argv: Sequence[str] | None = None) -> TrainResult:
    return run(EXAMPLE, parse_args(EXAMPLE, __doc__, argv))


if __name__ == "__main__":
    main(sys.argv[1:])
