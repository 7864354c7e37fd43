"""Pants runs test files as parallel processes on a few shared cores; one intra-op thread per
process avoids oversubscription, which made tiny tensor ops here over 10x slower."""

import torch

torch.set_num_threads(1)
