"""Datasets: load.py reads a source, detect.py picks the columns;
prepare.py encodes labels, makes the splits and preprocesses.
"""
