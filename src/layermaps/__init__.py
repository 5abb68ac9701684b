"""layermaps: how do the hidden layers of small Keras networks see MNIST and Fashion-MNIST?

The library behind the Snakemake workflow. Modules stay importable without Snakemake; heavy
dependencies (TensorFlow, MLflow, the reducers) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
