"""One file reader behind every file hash (benchmarks.datapath.hash_into)."""
import hashlib


def test_file_hashes_share_one_reader(tmp_path):
    """sha256_file and the model-folder digest both read through it, block by block."""
    from benchmarks.datapath import hash_into, sha256_file
    from retrievers.model_resolution import weights_hash

    data = bytes(range(256)) * 5000  # more than one 1 MiB block
    (tmp_path / "w.safetensors").write_bytes(data)
    digest = hashlib.sha256()
    hash_into(digest, tmp_path / "w.safetensors")
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == sha256_file(tmp_path / "w.safetensors")
    assert weights_hash(str(tmp_path)) == hashlib.sha256(b"w.safetensors" + data).hexdigest()
