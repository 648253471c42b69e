"""The interface between the pipeline and its destinations: `publisher.targets.base`.

Only the interface: the table of destinations (which names every one of them) is a feature,
`publisher.pipeline.targets.TARGETS`, so a destination importing `publisher.targets.base` runs
nothing above its own layer.
"""
