"""Background jobs.

manager.py: the registry, the queue and ownership; launcher.py: accelerate child processes.
"""
