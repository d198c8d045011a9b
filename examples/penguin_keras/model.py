"""The penguin model in Keras: a small functional network over the transformed measurements, island and sex.

``ctx.train.tf_dataset`` streams the transformed examples as ``(features, label)``
batches: a dict of 1-d tensors keyed by column, and the species as its index in
``ctx.classes``. The network has one named input per column it reads; headrace
saves it behind the fitted transform, so the model that serves takes raw rows and
predicts ``ctx.classes[argmax(softmax)]``.
"""

import keras

from headrace.components import TrainerContext


def train(ctx: TrainerContext) -> keras.Model:
    hp = ctx.hyperparameters
    keras.utils.set_random_seed(ctx.seed)  # headrace seeds Keras too; said here for the reader
    features = [c for c in ctx.features if c != "year"]  # when a penguin was measured says nothing of its species
    inputs = [keras.Input(shape=(1,), name=name) for name in features]
    x = keras.layers.Concatenate()(inputs)
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(len(ctx.classes), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(hp.get("learning_rate", 0.02)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    batch_size = hp.get("batch_size", 32)
    model.fit(ctx.train.tf_dataset(batch_size, shuffle=True, features=features), epochs=hp.get("epochs", 10), verbose=0)
    loss, _ = model.evaluate(ctx.eval.tf_dataset(batch_size, features=features), verbose=0)
    ctx.log_metric("eval_loss", loss)  # eval_accuracy the trainer measures itself, on what the model predicts
    return model
