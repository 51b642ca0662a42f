"""The training stage (the library behind ClassificationMinuteBased.py and fusion.py)."""
