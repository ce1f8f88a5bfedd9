"""FaceNet's two backends on real LFW-gray faces: the torch port, batched (the default), gives
OpenCV's embeddings of the frozen graph, and the two describe themselves differently so the
results cache never serves one backend's embeddings for the other."""
from __future__ import annotations

import numpy as np
import pytest

from bench import registry
from bench.api import BenchError

N_FACES = 6  # two torch batches of 4: a full one and a partial one


@pytest.fixture(scope="module")
def faces(lfw_root):
    from bench.data.imageio import load_rgb
    from bench.landmarks import LandmarkDetector

    paths = sorted(lfw_root.glob("A*/*.jpg"))[:N_FACES]
    images = np.stack([load_rgb(p) for p in paths])
    landmarks, _ = LandmarkDetector().detect_batch(images)
    return images, np.asarray(landmarks, dtype=np.float32)


@pytest.fixture(scope="module")
def backends():
    return {"torch": registry.create("recognizer", "facenet", batch_size=4),  # torch is the default
            "opencv": registry.create("recognizer", "facenet", backend="opencv")}


@pytest.mark.slow
def test_torch_backend_equals_opencv_on_real_faces(backends, faces):
    images, landmarks = faces
    ours = backends["torch"].embed(images, landmarks)
    reference = backends["opencv"].embed(images, landmarks)
    assert ours.shape == reference.shape == (N_FACES, 512) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    print(f"facenet torch vs opencv: max abs difference {np.abs(ours - reference).max():.2e}")
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)
    # batching keeps each face's embedding and the order
    one = backends["torch"].embed(images[4:5], landmarks[4:5])
    np.testing.assert_allclose(one[0], ours[4], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_backends_describe_themselves_differently(backends):
    torch_facts, opencv_facts = backends["torch"].describe(), backends["opencv"].describe()
    assert (torch_facts["backend"], opencv_facts["backend"]) == ("torch", "opencv")
    assert torch_facts != opencv_facts
    assert {k: v for k, v in torch_facts.items() if k != "backend"} == \
        {k: v for k, v in opencv_facts.items() if k != "backend"}


def test_bad_backend_options_are_named():
    with pytest.raises(BenchError, match="backend must be one of torch, opencv"):
        registry.create("recognizer", "facenet", backend="tensorflow")
    with pytest.raises(BenchError, match="batch_size must be positive"):
        registry.create("recognizer", "facenet", batch_size=0)
