"""Transform (tf.Transform on Arrow and Beam): analyze the training split once, apply the frozen values everywhere.

``TransformGraph.load(uri).transform(batch)`` (``headrace.components.TransformGraph``) applies a published graph
to a RecordBatch, Table or pandas DataFrame with no Beam and no pipeline; ``graph.FittedTransform`` is what it returns.
"""
