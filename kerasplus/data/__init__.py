"""Data: scikit-learn's bundled datasets, stratified train/val/test splits and k-fold folds.

The tf.data helpers arrive with the augmentation issue.
"""

from kerasplus.data.datasets import load
from kerasplus.data.kfold import kfold
from kerasplus.data.split import split

__all__ = ["kfold", "load", "split"]
