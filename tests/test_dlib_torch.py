"""The torch port of dlib's face recognition ResNet: on real LFW-gray faces it gives dlib's own
descriptors, so the ``torch`` and ``dlib`` backends of the dlib recognizer agree; files that are
not dlib's model are refused with an error naming them."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from bench import registry
from bench.api import BenchError
from bench.metrics.verification import cosine_scores
from bench.recognizers.dlib_resnet import default_model_path
from bench.recognizers.dlib_torch import _add_padded, face_descriptors, read_weights
from tests.conftest import fold1_pairs

N_PAIRS = 4  # of each kind, from fold 1 of pairs.txt: at most 16 faces
TOLERANCE = 1e-4  # observed: under 1e-6 on unnormalised descriptors of norm about 1.4


@pytest.fixture(scope="module")
def faces(lfw_root):
    """Images, landmarks and pair indices of the first same and different pairs of fold 1."""
    return fold1_pairs(lfw_root, N_PAIRS)[:4]


@pytest.fixture(scope="module")
def recognizers():
    return (registry.create("recognizer", "dlib", backend="torch", batch_size=5),
            registry.create("recognizer", "dlib", backend="dlib", batch_size=5))


def test_torch_network_gives_dlibs_descriptors(faces, recognizers):
    images, landmarks, _, _ = faces
    torch_rec, dlib_rec = recognizers
    chips = torch_rec.chips(images, landmarks)
    expected = np.array([np.array(d) for d in dlib_rec._net.compute_face_descriptor(list(chips))], np.float32)
    got = face_descriptors(torch_rec._torch_net, chips, batch_size=5)  # several batches, the last one short
    assert got.shape == (len(images), 128) and got.dtype == np.float32
    assert np.abs(got - expected).max() < TOLERANCE
    np.testing.assert_allclose(face_descriptors(torch_rec._torch_net, chips, batch_size=64), got, atol=1e-5)
    assert face_descriptors(torch_rec._torch_net, chips[:0]).shape == (0, 128)


def test_backends_agree_on_embeddings_and_pair_scores(faces, recognizers):
    images, landmarks, a, b = faces
    torch_rec, dlib_rec = recognizers
    emb_torch, emb_dlib = torch_rec.embed(images, landmarks), dlib_rec.embed(images, landmarks)
    np.testing.assert_allclose(np.linalg.norm(emb_torch, axis=1), 1.0, atol=1e-5)
    assert np.abs(emb_torch - emb_dlib).max() < TOLERANCE
    np.testing.assert_allclose(cosine_scores(emb_torch[a], emb_torch[b]), cosine_scores(emb_dlib[a], emb_dlib[b]),
                               atol=TOLERANCE)
    assert torch_rec.describe()["backend"] == "torch" and dlib_rec.describe()["backend"] == "dlib"
    with pytest.raises(BenchError, match="backend must be one of torch, dlib"):
        registry.create("recognizer", "dlib", backend="onnx")


def test_weights_have_dlibs_layers():
    weights = read_weights(default_model_path())
    np.testing.assert_allclose(weights.means, (122.782, 117.001, 104.298), rtol=1e-6)
    kinds = [kind for kind, _ in weights.layers]
    assert kinds.count("con") == kinds.count("affine") == 29 and kinds[-1] == "fc"
    assert weights.layers[0][1][0].shape == (32, 3, 7, 7) and weights.layers[-1][1][0].shape == (256, 128)


def test_add_prev_zero_pads_at_the_end_of_every_dimension():
    small, large = torch.ones(1, 1, 3, 3), torch.full((1, 2, 4, 4), 2.0)
    expected = torch.full((1, 2, 4, 4), 2.0)
    expected[0, 0, :3, :3] = 3.0
    assert torch.equal(_add_padded(small, large), expected)


def test_corrupt_model_files_are_refused_naming_the_file(tmp_path):
    data = default_model_path().read_bytes()
    first_con = data.index(b"con_4")
    cases = {
        "truncated-header.dat": data[:100],
        "truncated-tensor.dat": data[:len(data) // 2],
        "truncated-end.dat": data[:-1],
        "trailing.dat": data + b"\x00",
        "wrong-version.dat": data[:first_con] + b"con_9" + data[first_con + 5:],
        "garbage.dat": b"this is not a dlib model" * 10,
        "empty.dat": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BenchError, match=re.escape(str(path))):
            read_weights(path)
    with pytest.raises(BenchError, match=re.escape(str(tmp_path / "wrong-version.dat")) + ".*con_9"):
        registry.create("recognizer", "dlib", model=str(tmp_path / "wrong-version.dat"))
    with pytest.raises(BenchError, match="expected uint8 chips"):
        face_descriptors(None, np.zeros((1, 112, 112, 3), np.uint8))
