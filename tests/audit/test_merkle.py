"""RFC 6962 tree hashing against the Certificate Transparency test vectors, and proofs."""

from __future__ import annotations

import hashlib

import pytest

from corral.audit import merkle

# Leaves and roots of the reference tests of RFC 6962 implementations (certificate-transparency).
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHED = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_the_empty_tree_hashes_the_empty_string() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_vectors(size: int) -> None:
    assert merkle.root(HASHED[:size]).hex() == ROOTS[size - 1]


def test_reference_inclusion_path() -> None:
    # Leaf 0 of the 8-leaf tree, from the same reference tests.
    assert [node.hex() for node in merkle.inclusion_path(0, HASHED)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


@pytest.mark.parametrize("size", range(1, 20))
def test_every_leaf_of_every_tree_proves_its_inclusion(size: int) -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(size)]
    root = merkle.root(leaves)
    for index in range(size):
        path = merkle.inclusion_path(index, leaves)
        assert merkle.verify_inclusion(leaves[index], index, size, path, root)
        other = merkle.leaf_hash(b"not in the tree")
        assert not merkle.verify_inclusion(other, index, size, path, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, path, root)
            assert not merkle.verify_inclusion(leaves[index], index, size, path[:-1], root)


def test_out_of_range_leaves_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_path(3, HASHED[:3])
    assert not merkle.verify_inclusion(HASHED[0], 5, 3, [], merkle.root(HASHED[:3]))
