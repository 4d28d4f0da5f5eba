"""Pure ML: the classifier, inference engine, training, evaluation and the model registry."""
