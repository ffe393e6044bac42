"""What this host allows and provides.

paths.py: the path policy (hosted mode); env.py: limits read from environment variables;
extras.py: optional packages (export, trackers) and the sentence when one is missing.
"""
