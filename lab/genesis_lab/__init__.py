"""genesis-lab: a simulated fleet of genesis trading nodes on real services (see lab/DESIGN.md)."""

__version__ = "0.1.0"
