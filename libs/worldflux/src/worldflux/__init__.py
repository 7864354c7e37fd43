"""WorldFlux: latent world models for reinforcement learning behind one API."""

__version__ = "0.1.0"
