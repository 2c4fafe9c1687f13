"""Data: scikit-learn's bundled datasets, stratified train/val/test splits,
k-fold folds, and a tf.data pipeline with augmentation layers.
"""

from kerasplus.data.datasets import load
from kerasplus.data.kfold import kfold
from kerasplus.data.pipeline import augmented_dataset
from kerasplus.data.split import split

__all__ = ["augmented_dataset", "kfold", "load", "split"]
