"""The identity term: the frozen-graph reader, FaceNet in torch against OpenCV's run of the same
graph on real LFW-gray faces, the mean crop, and the loss's behaviour (zero on its own input,
gradients only to the output)."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from bench.api import BenchError
from bench.recognizers.tf_graph import constants

# --- the GraphDef reader, on graphs built here with the protobuf wire format ----------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _node(name: str, op: str, tensor: bytes) -> bytes:
    attr = _field(1, b"value") + _field(2, _field(8, tensor))
    return _field(1, name.encode()) + _field(2, op.encode()) + _field(5, attr)


def _shape(*dims: int) -> bytes:
    return _field(2, b"".join(_field(2, _varint(1 << 3) + _varint(d)) for d in dims))


def test_graph_reader_decodes_content_packed_and_splat_tensors(tmp_path):
    weights = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    content = _varint(1 << 3) + _varint(1) + _shape(2, 3) + _field(4, weights.tobytes())
    packed = _varint(1 << 3) + _varint(1) + _shape(2) + _field(5, struct.pack("<2f", 0.5, -2.0))
    splat = _varint(1 << 3) + _varint(1) + _shape(4) + _field(5, struct.pack("<f", 1.0))
    scalar = _varint(1 << 3) + _varint(3) + _shape() + _varint(7 << 3) + _varint(3)
    graph = b"".join([_field(1, _node("w", "Const", content)), _field(1, _node("b", "Const", packed)),
                      _field(1, _node("ones", "Const", splat)), _field(1, _node("axis", "Const", scalar)),
                      _field(1, _node("x", "Placeholder", content))])
    path = tmp_path / "g.pb"
    path.write_bytes(graph)
    got = constants(path)
    assert sorted(got) == ["axis", "b", "ones", "w"]
    np.testing.assert_array_equal(got["w"], weights)
    np.testing.assert_array_equal(got["b"], [0.5, -2.0])
    np.testing.assert_array_equal(got["ones"], np.ones(4, np.float32))
    assert got["axis"].dtype == np.int32 and int(got["axis"]) == 3


def test_graph_reader_names_a_truncated_file(tmp_path):
    path = tmp_path / "cut.pb"
    path.write_bytes(_field(1, _node("w", "Const", b"")) [:-3] + b"\x0a\xff")
    with pytest.raises(BenchError, match="cut.pb"):
        constants(path)


# --- FaceNet in torch against OpenCV ------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_path():
    from bench.assets import resolve
    from bench.recognizers.facenet import ASSET_NAME

    return resolve(ASSET_NAME, fetch=True)


@pytest.fixture(scope="module")
def facenet_torch(graph_path):
    from bench.recognizers.facenet_torch import InceptionResnetV1, load_graph_weights

    return load_graph_weights(InceptionResnetV1(), graph_path)


@pytest.fixture(scope="module")
def faces(lfw_root):
    from bench.data.imageio import load_rgb
    from bench.landmarks import LandmarkDetector

    paths = sorted(lfw_root.glob("A*/*.jpg"))[:4]
    images = np.stack([load_rgb(p) for p in paths])
    landmarks, _ = LandmarkDetector().detect_batch(images)
    return images, np.asarray(landmarks, dtype=np.float32)


@pytest.mark.slow
def test_facenet_in_torch_equals_opencvs_run_of_the_graph(facenet_torch, faces):
    from bench import registry
    from bench.recognizers.facenet_torch import prewhiten

    images, landmarks = faces
    recognizer = registry.create("recognizer", "facenet", backend="opencv")
    crops = recognizer.crops(images, landmarks)
    reference = recognizer.embed(images, landmarks)
    x = prewhiten(torch.from_numpy(crops).permute(0, 3, 1, 2).float())
    with torch.no_grad():
        ours = facenet_torch(x).numpy()
    np.testing.assert_allclose(ours, reference, atol=2e-5)


@pytest.mark.slow
def test_identity_loss_crop_matches_the_benchmark_crop_and_is_zero_on_its_input(facenet_torch, faces):
    from bench import registry
    from inpaint.data import to_tensor
    from inpaint.identity import IdentityLoss, mean_crop_theta

    images, landmarks = faces
    recognizer = registry.create("recognizer", "facenet")
    one = slice(0, 1)
    loss = IdentityLoss(mean_crop_theta(landmarks[one], images.shape[1]), net=facenet_torch)
    x = to_tensor(images[one])
    with torch.no_grad():
        ours = loss.embed(x).numpy()
    reference = recognizer.embed(images[one], landmarks[one])
    # the same crop (one face: its own transform), bilinear sampling in both; cosine ~ 1
    assert float((ours * reference).sum()) > 0.995
    with torch.no_grad():
        assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-5)


def test_dlib_identity_crop_matches_dlib_s_own_chips_and_descriptors(faces):
    from bench import registry
    from inpaint.data import to_tensor
    from inpaint.identity import IdentityLoss, mean_dlib_chip_theta

    images, landmarks = faces
    recognizer = registry.create("recognizer", "dlib")
    reference = recognizer.embed(images, landmarks)
    x = to_tensor(images)
    for i in range(len(images)):  # one face each: the mean chip is its own chip
        loss = IdentityLoss(mean_dlib_chip_theta(landmarks[i:i + 1], images.shape[1]), recognizer="dlib")
        with torch.no_grad():
            ours = loss.embed(x[i:i + 1]).numpy()[0]
            assert float(loss(x[i:i + 1], x[i:i + 1])) == pytest.approx(0.0, abs=1e-5)
        # dlib resamples its chip with its own filter; the descriptors still agree to cosine ~ 1
        assert float(ours @ reference[i]) > 0.995
    other = float(np.dot(IdentityLoss(mean_dlib_chip_theta(landmarks[:1], images.shape[1]), recognizer="dlib")
                         .embed(x[1:2]).detach().numpy()[0], reference[0]))
    assert other < 0.95  # a different face is not matched


@pytest.mark.slow
def test_identity_loss_grows_with_a_different_face_and_reaches_only_the_output(facenet_torch, faces):
    from inpaint.data import to_tensor
    from inpaint.identity import IdentityLoss, mean_crop_theta

    images, landmarks = faces
    loss = IdentityLoss(mean_crop_theta(landmarks, images.shape[1]), net=facenet_torch)
    x = to_tensor(images)
    source = x[:, :1].clone().requires_grad_(True)  # luminance input, as the model's
    output = x[[1, 2, 3, 0], :1].clone().requires_grad_(True)
    value = loss(output, source)
    assert value.shape == (4,) and (value > 0.2).all()
    value.sum().backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert source.grad is None
    assert not any(p.requires_grad for p in facenet_torch.parameters())


@pytest.mark.slow
def test_contrastive_identity_prefers_the_own_input_and_queues_inputs(facenet_torch, faces):
    from inpaint.data import to_tensor
    from inpaint.identity import IdentityLoss, mean_crop_theta

    images, landmarks = faces
    loss = IdentityLoss(mean_crop_theta(landmarks, images.shape[1]), net=facenet_torch, queue=6, temperature=0.1)
    x = to_tensor(images)[:, :1]
    with torch.no_grad():
        terms = loss.terms(x, x)
    cosine, own = terms["ID"], terms["ID_NCE"]
    assert len(loss.queue) == 0  # no gradient: not a training step, nothing queued
    assert float(cosine.abs().max()) < 1e-5
    # the InfoNCE loss by hand: own input against the batch's inputs
    embedding = loss.embed(x).detach()
    logits = embedding @ embedding.T / 0.1
    expected = torch.logsumexp(logits, dim=1) - logits.diag()
    torch.testing.assert_close(own, expected, atol=1e-4, rtol=1e-4)
    shuffled = x[[1, 2, 3, 0]].clone().requires_grad_(True)
    wrong = loss.terms(shuffled, x)["ID_NCE"]
    assert (wrong > own + 1).all()
    wrong.sum().backward()
    assert shuffled.grad is not None and shuffled.grad.abs().sum() > 0
    assert loss.queue.shape == (4, 512)  # a training step queues its inputs, detached
    loss.terms(x.clone().requires_grad_(True), x)
    assert loss.queue.shape == (6, 512) and not loss.queue.requires_grad
    with_queue = loss.terms(x.clone().requires_grad_(True), x)["ID_NCE"]
    assert with_queue.shape == (4,) and (with_queue.detach() >= own - 1e-4).all()  # more negatives


@pytest.mark.slow
def test_identity_shift_is_the_spread_of_the_embedding_moves(facenet_torch, faces):
    from inpaint.data import to_tensor
    from inpaint.identity import IdentityLoss, mean_crop_theta

    images, landmarks = faces
    loss = IdentityLoss(mean_crop_theta(landmarks, images.shape[1]), net=facenet_torch)
    x = to_tensor(images)[:, :1]
    with torch.no_grad():
        assert float(loss.terms(x, x)["ID_SHIFT"].abs().max()) < 1e-8  # no move at all
        embedding = loss.embed(x)
    # by hand: every face swapped for another moves its embedding by a different vector
    output = x[[1, 2, 3, 0]].clone().requires_grad_(True)
    shift = loss.terms(output, x)["ID_SHIFT"]
    move = embedding[[1, 2, 3, 0]] - embedding
    expected = ((move - move.mean(0)) ** 2).sum(1)
    torch.testing.assert_close(shift.detach(), expected, atol=1e-4, rtol=1e-4)
    assert (shift > 0.1).all()
    shift.sum().backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    # one face alone has no spread to measure
    assert float(loss.terms(x[:1, :], x[1:2])["ID_SHIFT"]) == 0.0


@pytest.mark.slow
def test_training_with_the_identity_term_logs_it_and_resumes_its_queue(lfw_root, tmp_path):
    import csv

    from safetensors.torch import load_file

    from inpaint.config import config_from_dict
    from inpaint.train import run_paths, train

    cfg = config_from_dict({
        "name": "cl-attn", "seed": 3, "steps": 2, "decay_steps": 0, "batch_size": 1, "threads": 1,
        "checkpoint_every": 0, "checkpoint_minutes": 0, "log_every": 1, "bf16": True,
        "model": {"image_size": 32, "ngf": 4, "n_blocks": 2, "ndf": 4, "n_layers_d": 2, "region": "given",
                  "channels": 1},
        "loss": {"num_patches": 16, "mlp_units": 16, "nce_idt": False, "lambda_id": 1.0, "lambda_id_nce": 0.5,
                 "lambda_id_shift": 1.0, "lambda_id_dlib": 1.0, "id_queue": 4},
        "data": {"root": str(lfw_root), "max_images": 8, "jitter": 2}})
    train(cfg, tmp_path, stop_at=1, progress=False)
    saved = load_file(run_paths(tmp_path, cfg.name)["resume"])
    assert int(saved["id_queue.filled"]) == 1 and saved["id_queue.memory"].shape == (4, 512)
    result = train(cfg, tmp_path, resume=True, progress=False)
    assert 0 < result["losses"]["ID"] < 2
    queue = result["trainer"].identity.memory
    assert int(queue.filled) == 2 and torch.equal(queue.memory[1], saved["id_queue.memory"][0])
    with open(run_paths(tmp_path, cfg.name)["log"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["step"] for r in rows] == ["1", "2"] and all(float(r["ID"]) > 0 for r in rows)
    assert all(float(r["ID_NCE"]) >= 0 for r in rows) and float(rows[1]["ID_NCE"]) > 0  # batch 1: only the resumed queue gives step 2 negatives
    assert all(float(r["ID_SHIFT"]) == 0 for r in rows)  # batch 1: a single move has no spread
    assert all(0 < float(r["ID_DLIB"]) < 2 for r in rows)
    card = (tmp_path / "cl-attn.json").read_text()
    assert "identity consistency" in card and "identity-neutral fill" in card and "dlib's ResNet" in card
