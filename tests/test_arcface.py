"""ArcFace plugin: the whole code path on a tiny ONNX model, checked against insightface's own
ArcFaceONNX, and a clear Unavailable when buffalo_l's weights are absent."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from bench import registry
from bench.api import BenchError, Unavailable

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.onnx"),
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning"),
]


def export_tiny(path: Path, mxnet_style: bool = False) -> Path:
    """A random 1x3x112x112 -> 1x512 network with insightface's input name ``input.1``.

    ``mxnet_style`` puts the input normalisation inside the graph and names its first nodes as
    MXNet-converted insightface models do (``_minus0``, ``_mul0``).
    """

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 8, 8, stride=8)
            self.fc = torch.nn.Linear(8 * 14 * 14, 512)

        def forward(self, x):
            if mxnet_style:
                x = (x - 127.5) * 0.0078125
            return self.fc(torch.flatten(torch.tanh(self.conv(x)), 1))

    torch.onnx.export(Tiny().eval(), torch.zeros(1, 3, 112, 112), str(path), input_names=["input.1"],
                      output_names=["embedding"], dynamo=False)
    if mxnet_style:
        model = onnx.load(str(path))
        for node in model.graph.node:
            if node.op_type == "Sub":
                node.name = "_minus0"
            elif node.op_type == "Mul":
                node.name = "_mul0"
        onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("arcface") / "tiny.onnx")


@pytest.fixture(scope="module")
def colour_faces(bench_data):
    """Two colour LFW faces (so that a swapped channel order would show) and their landmarks."""
    from bench.data.imageio import load_rgb
    from bench.landmarks import LandmarkDetector

    folder = bench_data / "lfw-color-bush" / "George_W_Bush"
    images = np.stack([load_rgb(folder / f"George_W_Bush_{k:04d}.jpg") for k in (1, 2)])
    landmarks, detected = LandmarkDetector().detect_batch(images)
    assert detected.all()
    return images, landmarks


def insightface_reference(model: Path, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Embeddings by insightface's ArcFaceONNX on its own norm_crop of BGR images."""
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.utils.face_align import norm_crop

    from bench.landmarks import five_point

    net = ArcFaceONNX(model_file=str(model))
    feats = []
    for image, points in zip(images, five_point(landmarks)):
        bgr = np.ascontiguousarray(image[..., ::-1])
        feats.append(net.get_feat(norm_crop(bgr, points, image_size=112)).ravel())
    feats = np.array(feats)
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


def test_embeddings_match_insightface_arcfaceonnx(tiny_model, colour_faces):
    from bench.recognizers.arcface import ArcFace

    images, landmarks = colour_faces
    recognizer = ArcFace(model=tiny_model)
    assert (recognizer.mean, recognizer.std, recognizer.batch_size) == (127.5, 127.5, 1)
    ours = recognizer.embed(images, landmarks)
    assert ours.shape == (2, 512) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(ours, insightface_reference(tiny_model, images, landmarks), atol=2e-4)
    # the order of channels matters on colour input: BGR would give other embeddings
    swapped = recognizer.embed(np.ascontiguousarray(images[..., ::-1]), landmarks)
    assert np.abs(swapped - ours).max() > 1e-2
    assert recognizer.describe()["sha256"] and recognizer.describe()["crop"] == 112


def test_mxnet_style_model_gets_raw_pixels(tmp_path, colour_faces):
    from bench.recognizers.arcface import ArcFace

    model = export_tiny(tmp_path / "mx.onnx", mxnet_style=True)
    images, landmarks = colour_faces
    recognizer = ArcFace(model=model)
    assert (recognizer.mean, recognizer.std) == (0.0, 1.0)
    np.testing.assert_allclose(recognizer.embed(images, landmarks), insightface_reference(model, images, landmarks),
                               atol=2e-4)


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """No weights anywhere and every download failing at once."""
    import bench.assets

    def unreachable(url, dest, *args, **kwargs):
        raise BenchError(f"cannot download {url}: offline")

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bench.assets, "download_url", unreachable)
    return tmp_path / "home"


def test_missing_weights_raise_unavailable_with_instructions(offline_home, tmp_path):
    from bench.recognizers.arcface import ArcFace

    with pytest.raises(Unavailable, match=r"^w600k_r50.onnx not found: place buffalo_l/w600k_r50.onnx in ~/.insightface"):
        ArcFace()
    with pytest.raises(Unavailable, match="missing.onnx not found"):
        ArcFace(model=tmp_path / "missing.onnx")


def test_another_model_is_never_taken_for_buffalo_l(offline_home, tiny_model):
    from bench.recognizers.arcface import ArcFace

    fake = offline_home / ".insightface" / "models" / "buffalo_l" / "w600k_r50.onnx"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(tiny_model.read_bytes())
    with pytest.raises(Unavailable, match="sha256"):
        ArcFace()


def test_weights_are_taken_out_of_buffalo_l_zip(tmp_path, tiny_model):
    from bench.recognizers.arcface import _extract

    archive = tmp_path / "buffalo_l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("buffalo_l/det_10g.onnx", b"detector")
        zf.write(tiny_model, "buffalo_l/w600k_r50.onnx")
    _extract(archive, tmp_path / "out.onnx")
    assert (tmp_path / "out.onnx").read_bytes() == tiny_model.read_bytes()
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("readme.txt", b"nothing")
    with pytest.raises(BenchError, match="holds no w600k_r50.onnx"):
        _extract(tmp_path / "empty.zip", tmp_path / "x.onnx")


def test_registered_under_its_name():
    from bench.recognizers.arcface import ArcFace

    assert registry.resolve("recognizer", "arcface") is ArcFace
