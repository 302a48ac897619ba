"""TallyIO: honest on-chain MEV."""

__version__ = "0.1.0"
