"""Labelled evaluation of matching: a traffic simulator with ground truth, run through the real engine.

``python -m trackai_cli.eval_matching`` (``make eval-matching``): see ``__main__``; docs/matching.md.
"""
