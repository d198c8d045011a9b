"""The penguin model: a logistic regression over the transformed measurements, island and sex.

headrace calls ``train(ctx)`` with the transformed examples and saves what it
returns behind the fitted transform, so the model that serves takes raw rows
(nulls and islands it never saw included: the transform fills a missing sex
with "unknown" and gives an unseen island its out-of-vocabulary index).
"""

from sklearn.linear_model import LogisticRegression

from headrace.components import TrainerContext


def train(ctx: TrainerContext) -> LogisticRegression:
    frame = ctx.train.to_pandas()  # the transformed features and the label
    features = [c for c in ctx.features if c != "year"]  # when a penguin was measured says nothing of its species
    model = LogisticRegression(C=ctx.hyperparameters.get("C", 1.0), max_iter=1000, random_state=ctx.seed)
    return model.fit(frame[features], frame[ctx.label])  # fitted on named columns: the model takes those
