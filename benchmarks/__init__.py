"""Developer tooling: the training benchmark and the sheet's reference loop it measures against."""
