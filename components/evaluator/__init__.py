"""The ``evaluator`` component (TFX's Evaluator): metrics, slices, thresholds and a baseline -> a blessing.

The packaged model predicts the RAW eval split batch by batch (exactly what
serving does), sklearn.metrics turns the collected labels and probabilities
into metrics overall and per slice, and thresholds on those metrics (on their
value, and on their change against the latest blessed model of this pipeline)
decide the ``ModelBlessing``, which is always written.
"""
