"""The ``trainer`` component: user training code in, one MLflow model of transform + estimator out.

A training function takes a :class:`TrainerContext` and returns a fitted model::

    from headrace.components import TrainerContext

    def train(ctx: TrainerContext):
        X, y = ctx.train.to_numpy()
        return LogisticRegression(random_state=ctx.seed).fit(X, y)
"""

from headrace.components.trainer.context import Split, TrainerContext

__all__ = ["Split", "TrainerContext"]
