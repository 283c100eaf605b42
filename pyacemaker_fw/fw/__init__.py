"""FireWorks adapters: the only package that imports fireworks."""
