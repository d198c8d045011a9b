"""A small convolutional network for any image folder: sized from the data, not from the digits.

``ctx.train.tf_dataset`` decodes and scales the images in a parallel ``map`` with
the transform's own Keras layers: ``image`` comes as float32 pixels
``[batch, height, width, channels]``. The input shape is read from the dataset
(height and width may be unknown: the convolutions and the global pooling take
any size), the output from ``ctx.classes``. headrace saves the network behind the
same layers, so the model that serves takes an image file's bytes.
"""

import keras

from headrace.components import TrainerContext


def train(ctx: TrainerContext) -> keras.Model:
    hp = ctx.hyperparameters
    keras.utils.set_random_seed(ctx.seed)  # headrace seeds Keras too; said here for the reader
    batch_size = hp.get("batch_size", 32)
    data = ctx.train.tf_dataset(batch_size, shuffle=True, features=["image"])  # batched, prefetched
    height, width, channels = data.element_spec[0]["image"].shape[1:]
    image = keras.Input(shape=(height, width, channels), name="image")
    x = keras.layers.Conv2D(hp.get("filters", 32), 3, padding="same", activation="relu")(image)
    x = keras.layers.Conv2D(hp.get("filters", 32), 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(ctx.classes), activation="softmax")(x)
    model = keras.Model({"image": image}, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(hp.get("learning_rate", 0.01)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(data, epochs=hp.get("epochs", 20), verbose=0)
    if ctx.eval is not None:
        loss, _ = model.evaluate(ctx.eval.tf_dataset(batch_size, features=["image"]), verbose=0)
        ctx.log_metric("eval_loss", loss)  # eval_accuracy the trainer measures itself, on what the model predicts
    return model
