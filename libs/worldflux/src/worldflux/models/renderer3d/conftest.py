"""Renderer3D-family tests run one thread: tiny models, shared CPUs."""

import torch

torch.set_num_threads(1)
