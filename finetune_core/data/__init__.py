"""Datasets: load.py reads a source and detects columns;
prepare.py encodes labels, makes the splits and preprocesses.
"""
