"""The synthetic data-set writers the tests use (they live in the package: bench uses them too)."""

from rsmooth.data.synthetic import (  # noqa: F401
    WRITERS,
    svhn_arrays,
    synthetic_arrays,
    synthetic_splits,
    write_cifar10,
    write_cifar100,
    write_cifar_batch,
    write_fashion_mnist,
    write_idx,
    write_mat,
    write_svhn,
)
