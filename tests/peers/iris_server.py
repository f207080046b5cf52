"""An iris classifier served by the real KServe Python model server, for the probe tests.

The model mirrors KServe's sklearn sample (an SVC trained on iris; kserve/kserve
docs/samples/v1beta1/sklearn and test/e2e/predictor/test_sklearn.py). It is trained at start
from `sklearn.datasets.load_iris()`, which ships inside scikit-learn: nothing is downloaded.
Predictions go through `kserve.utils.utils.get_predict_input/get_predict_response`, the helpers
KServe's own sklearnserver uses, so the V1 and V2 answers have the shapes a cluster returns.

Usage: python iris_server.py --model_name NAME --http_port PORT

Faults the tests inject (environment variables):
  NEUROSCALE_PEER_DELAY_MS       sleep this long inside every predict, without blocking other
                                 requests (latency SLO must fail)
  NEUROSCALE_PEER_ERROR_RATE     this fraction of predicts (e.g. 0.2) answer HTTP 500 through
                                 KServe's InferenceError handler, spread evenly (call n fails when
                                 floor(n * rate) steps up), so the count is exact
  NEUROSCALE_PEER_FREEZE_EVERY_MS  with NEUROSCALE_PEER_FREEZE_FOR_MS: the whole server freezes
  NEUROSCALE_PEER_FREEZE_FOR_MS    for FOR ms once every EVERY ms (counted from the first
                                 predict), as a GC pause or a CPU stall would: a blocking sleep
                                 on the event loop, so no request is served meanwhile
  NEUROSCALE_PEER_FAIL_EVERY     every Nth predict raises, which KServe answers with HTTP 500
  NEUROSCALE_PEER_DROP_PREDICTION  answer one prediction fewer than the rows asked for
  NEUROSCALE_PEER_WRONG_CLASS    answer class 2 for every row (predictions that are wrong)

The upstream server binds 0.0.0.0 whatever host is asked for (UPSTREAM.md §11); the tests must
stay on loopback, so uvicorn's Config is wrapped to force 127.0.0.1.
"""

import argparse
import asyncio
import itertools
import logging
import math
import os
import time
import warnings

import uvicorn

_UpstreamConfig = uvicorn.Config


class _LoopbackConfig(_UpstreamConfig):
    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


uvicorn.Config = _LoopbackConfig

import kserve  # noqa: E402  (after the loopback wrapper, which kserve's REST server picks up)
from kserve.utils.utils import get_predict_input, get_predict_response  # noqa: E402
from sklearn import datasets, svm  # noqa: E402

DELAY_S = float(os.environ.get("NEUROSCALE_PEER_DELAY_MS", "0")) / 1000.0
FAIL_EVERY = int(os.environ.get("NEUROSCALE_PEER_FAIL_EVERY", "0"))
ERROR_RATE = float(os.environ.get("NEUROSCALE_PEER_ERROR_RATE", "0"))
FREEZE_EVERY_S = float(os.environ.get("NEUROSCALE_PEER_FREEZE_EVERY_MS", "0")) / 1000.0
FREEZE_FOR_S = float(os.environ.get("NEUROSCALE_PEER_FREEZE_FOR_MS", "0")) / 1000.0
DROP_PREDICTION = os.environ.get("NEUROSCALE_PEER_DROP_PREDICTION") == "1"
WRONG_CLASS = os.environ.get("NEUROSCALE_PEER_WRONG_CLASS") == "1"


class IrisModel(kserve.Model):
    def __init__(self, name: str):
        super().__init__(name)
        self.classifier = None
        self.calls = itertools.count(1)
        self.next_freeze = None
        self.load()

    def load(self) -> bool:
        iris = datasets.load_iris()
        self.classifier = svm.SVC(gamma="scale")
        self.classifier.fit(iris.data, iris.target)
        self.ready = True
        return self.ready

    def freeze_when_due(self):
        """Blocks the event loop (not an await): every connection stalls, as in a GC pause."""
        now = time.monotonic()
        if self.next_freeze is None:
            self.next_freeze = now + FREEZE_EVERY_S
        elif now >= self.next_freeze:
            self.next_freeze = now + FREEZE_EVERY_S
            time.sleep(FREEZE_FOR_S)

    async def predict(self, payload, headers=None, response_headers=None):
        call = next(self.calls)
        if FREEZE_EVERY_S > 0 and FREEZE_FOR_S > 0:
            self.freeze_when_due()
        if DELAY_S > 0:
            await asyncio.sleep(DELAY_S)
        if FAIL_EVERY > 0 and call % FAIL_EVERY == 0:
            raise RuntimeError(f"injected failure on predict call {call}")
        if ERROR_RATE > 0 and math.floor(call * ERROR_RATE) > math.floor((call - 1) * ERROR_RATE):
            raise kserve.errors.InferenceError(f"injected failure on predict call {call}")
        rows = get_predict_input(payload)
        result = self.classifier.predict(rows)
        if WRONG_CLASS:
            result[:] = 2
        if DROP_PREDICTION:
            result = result[:-1]
        return get_predict_response(payload, result, self.name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--http_port", type=int, required=True)
    args, _ = parser.parse_known_args()
    # Every request logs a FastAPI deprecation warning under this pairing (UPSTREAM.md §11).
    warnings.filterwarnings("ignore")
    model = IrisModel(args.model_name)
    server = kserve.ModelServer(
        http_port=args.http_port,
        enable_grpc=False,
        enable_latency_logging=False,
        workers=1,
    )
    # ModelServer configures logging in its constructor; quieten the per-request lines after it.
    for name in ("kserve", "kserve.trace", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([model])


if __name__ == "__main__":
    main()
