"""Training: the Trainer, its optimizers and schedules, the replay buffer, torchrun DDP.

from worldflux.training import Trainer, TrainerConfig
result = Trainer(model, TrainerConfig(steps=1000, output_dir="runs/x"),
                 train_data=load_dataset("pendulum"),
                 eval_data=load_dataset("pendulum", "heldout")).fit()
"""

from worldflux.training.callbacks import Callback
from worldflux.training.clip import clip_grad_agc_, clip_gradients
from worldflux.training.config import TrainerConfig
from worldflux.training.optim import LaProp, build_optimizer
from worldflux.training.replay import ReplayBuffer
from worldflux.training.schedule import WarmupSchedule, build_schedule
from worldflux.training.seeding import seed_everything
from worldflux.training.trainer import Trainer, TrainResult, train

__all__ = [
    "Callback",
    "LaProp",
    "ReplayBuffer",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "WarmupSchedule",
    "build_optimizer",
    "build_schedule",
    "clip_grad_agc_",
    "clip_gradients",
    "seed_everything",
    "train",
]
