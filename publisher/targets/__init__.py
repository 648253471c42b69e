"""Destinations: one module per target, each implementing `publisher.targets.base.Target`."""
