"""Using a trained run: load its predictor, predict, (later) serve and export."""
