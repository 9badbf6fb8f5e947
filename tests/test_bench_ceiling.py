"""The benchmark's ceiling app: the minimal routes it times must work, or the ceiling means nothing."""

from __future__ import annotations

import falcon.testing

from bench.ceiling_app import create_ceiling_app
from datasets import renders


def test_the_ceiling_routes_read_the_body_and_answer(mnist_test) -> None:
    images, _ = mnist_test
    png = renders.canvas_export(renders.draw_strokes(images[0], (280, 280), 190, (140, 140), 18))
    client = falcon.testing.TestClient(create_ceiling_app())
    assert client.simulate_post("/noop", body=png).json == {"digit": 0}
    assert client.simulate_post("/decode", body=png).status_code == 200
    answer = client.simulate_post("/decode-forward", body=png, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200 and answer.json["digit"] in range(10)
