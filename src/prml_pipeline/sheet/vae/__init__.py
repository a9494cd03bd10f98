"""The variational autoencoder: `model` (the network), `loss` (ELBO and its parts), `weights`
(a saved model that describes itself), `train` (the training loop) and `iwae` (the
importance-weighted bound).

Import from the submodules: this file stays empty, so that a job's code inputs are exactly
the submodules its script reaches.
"""
