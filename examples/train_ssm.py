"""Train the SSM world model (diagonal state space, S4D) with the generic Trainer, then imagine
and plan.

    python examples/train_ssm.py --test              # seconds: ci size, pendulum
    python examples/train_ssm.py --size ci --steps 500
    python examples/train_ssm.py --size base --device cuda --steps 20000 --output-dir runs/ssm

Training runs each sampled sequence through the S4D layers' parallel scan; imagination steps the
same layers recurrently. Held-out losses (next observation, reward) are printed before and after;
the model imagines 5 steps from a held-out observation and plans one action with the planner
`auto` picks. The trained model is saved under <output-dir>/model and reloads with
`create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from family_example import FamilyExample, parse_args, run

from worldflux.models.ssm import SIZES, SSMConfig
from worldflux.training import TrainResult

EXAMPLE = FamilyExample(
    family="ssm",
    sizes=tuple(SIZES),
    dataset="pendulum",
    lr=SSMConfig.lr,
    metric="next_obs",
    test_settings={"size": "ci", "steps": 40, "batch_size": 8, "seq_len": 8, "eval_batches": 2},
)


def main(argv: Sequence[str] | None = None) -> TrainResult:
    return run(EXAMPLE, parse_args(EXAMPLE, __doc__, argv))


if __name__ == "__main__":
    main(sys.argv[1:])
