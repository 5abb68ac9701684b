"""Models stage: model specs from config, Keras training, and the train and activations jobs."""
