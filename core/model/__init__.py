"""The Allegro model: training, inference, predictions into results, evaluation and the model card."""
