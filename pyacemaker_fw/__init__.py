"""pyacemaker-fw: active-learning ACE potentials as a FireWorks workflow."""

__version__ = "0.1.0"
