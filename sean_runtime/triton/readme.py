"""The README.md of an exported Triton repository: how to run it where it is going."""

from __future__ import annotations

from collections.abc import Mapping

from sean_runtime.package import Package
from sean_runtime.triton.config import ModelConfig
from sean_runtime.triton.environment import model_requirements
from sean_runtime.triton.interface import DEFAULT_NAME, ModelNames
from sean_runtime.triton.settings import RepositorySettings

# NVIDIA's container of the Triton release that nvidia-pytriton 0.7.0 ships (Triton 2.51): the one
# `sean triton` runs here. Its Python is 3.10.
CONTAINER = "nvcr.io/nvidia/tritonserver:24.10-py3"
SDK_CONTAINER = "nvcr.io/nvidia/tritonserver:24.10-py3-sdk"


def _tensors(config: ModelConfig) -> str:
    """A model's tensor names as its config.pbtxt has them (what a client sends and asks for): "a, b -> c"."""
    return f"{', '.join(t.name for t in config.inputs)} -> {', '.join(t.name for t in config.outputs)}"


def readme(
    package: Package, settings: RepositorySettings, names: ModelNames, configs: Mapping[str, ModelConfig]
) -> str:
    gpu = settings.backend != "python"
    gpus = " --gpus all" if gpu else ""
    named = "" if settings.name == DEFAULT_NAME else f" --triton-model {settings.name}"  # the clients' model
    bench_model = "" if settings.name == DEFAULT_NAME else f" --model {settings.name}"
    requirements = " ".join(f"'{r}'" for r in model_requirements())
    h, w = package.height, package.width
    reconstruct = _tensors(configs[names.reconstruct])
    runtime = {"onnxruntime": "ONNX Runtime", "openvino": f"OpenVINO, precision hint {settings.precision}"}[
        settings.graph_runtime
    ]
    backend_line = {
        "python": f"`{names.encoder}` and `{names.generator}` run the package with the SEAN runtime ({runtime} "
                  f"on the CPU) in Triton's Python backend: this repository runs on any machine.",
        "onnxruntime": f"`{names.encoder}` and `{names.generator}` are the package's ONNX graphs on Triton's ONNX "
                       f"Runtime backend (`KIND_GPU`).",
        "tensorrt": f"`{names.encoder}` and `{names.generator}` are TensorRT plans built by `sean build-engine` "
                    f"(`KIND_GPU`); a plan runs only under the TensorRT version that built it, on its GPU: "
                    f"{CONTAINER} must carry that TensorRT version.",
    }[settings.backend]
    return f"""# SEAN on Triton Inference Server

Exported by `sean export-triton` from a package of domain `{package.domain or "none"}` ({w}x{h},
{package.num_classes} classes, {package.precision}), backend `{settings.backend}`, max batch
{settings.max_batch}, {settings.instances} instance(s) per model.

| model | what it does |
|---|---|
| `{names.front}` | the model to call: the request of `POST /v1/synthesize` in tensor form (Python backend, BLS) |
| `{names.encoder}` | the encoder graph: {_tensors(configs[names.encoder])} |
| `{names.generator}` | the generator graph: {_tensors(configs[names.generator])} |
| `{names.noise}` | the generator's noise by the package's noise rule: {_tensors(configs[names.noise])} |
| `{names.reconstruct}` | ensemble: {reconstruct} (each image in its own style, float [3, H, W] in [-1, 1]) |

{backend_line} The tensors of `{names.front}` are listed in its `config.pbtxt` and in the SEAN
documentation (docs/triton.md); the SEAN client speaks them:

    sean synth --triton http://127.0.0.1:8000{named} --label label.png --style style.png -o out.png

## Here, without a container

{"`sean triton` runs python-backend repositories only (the `tritonserver` of the `nvidia-pytriton` wheel "
 "has no ONNX Runtime or TensorRT backend): export with `--backend python` to try the models here." if gpu else
 "    sean triton . --port 8000" + chr(10) + chr(10) + "starts the `tritonserver` that the `nvidia-pytriton` "
 "wheel ships (Python backend) on 127.0.0.1, with the models' environment (numpy < 2) built once."}

## NVIDIA's container

The Python models (`{names.front}`, `{names.noise}`{"" if gpu else f", `{names.encoder}`, `{names.generator}`"})
import the SEAN runtime and need numpy < 2 (the Python backend stub of Triton 2.51, as nvidia-pytriton ships
it, fails every answer with numpy 2). Give them both with a Dockerfile (the wheel from
`pip wheel --no-deps` of the sean-deploy source):

    FROM {CONTAINER}
    COPY sean_deploy-*.whl /tmp/
    RUN pip install {requirements} && pip install --no-deps /tmp/sean_deploy-*.whl

Or pack that environment once (`conda-pack` of a Python 3.10 environment with those packages and the
wheel) and name it in each Python model's `config.pbtxt` (the Python backend's EXECUTION_ENV_PATH):

    parameters {{ key: "EXECUTION_ENV_PATH" value: {{ string_value: "$$TRITON_MODEL_DIRECTORY/../sean-env.tar.gz" }} }}

Then:

    docker run --rm{gpus} -p 127.0.0.1:8000:8000 -p 127.0.0.1:8001:8001 -p 127.0.0.1:8002:8002 \\
        -v "$PWD":/models sean-triton tritonserver --model-repository=/models

(`sean-triton` is the image built from the Dockerfile above; `{CONTAINER}` itself when the packed
environment is used.)

## Load test

    docker run --rm --net=host {SDK_CONTAINER} perf_analyzer -m {names.reconstruct} \\
        -u 127.0.0.1:8001 -i grpc --concurrency-range 1:8:1 --input-data zero

(`--input-data zero`: every label is class 0, a valid id; random data would send ids outside the classes.)

or `sean bench-serve --triton http://127.0.0.1:8000{bench_model}` (1, 4 and 8 clients, latency percentiles, and whether
requests were batched: Triton's `nv_inference_exec_count` against the request count).

## Kubernetes

```yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sean-triton
spec:
  replicas: 2
  selector:
    matchLabels: {{app: sean-triton}}
  template:
    metadata:
      labels: {{app: sean-triton}}
    spec:
      containers:
        - name: tritonserver
          image: sean-triton  # built from the Dockerfile above, with this repository copied to /models
          args: ["tritonserver", "--model-repository=/models"]
          ports:
            - {{containerPort: 8000, name: http}}
            - {{containerPort: 8001, name: grpc}}
            - {{containerPort: 8002, name: metrics}}
          readinessProbe:
            httpGet: {{path: /v2/health/ready, port: http}}
            periodSeconds: 5
          livenessProbe:
            httpGet: {{path: /v2/health/live, port: http}}
            periodSeconds: 10{'''
          resources:
            limits: {nvidia.com/gpu: 1}''' if gpu else ""}
---
apiVersion: v1
kind: Service
metadata:
  name: sean-triton
spec:
  selector: {{app: sean-triton}}
  ports:
    - {{name: http, port: 8000, targetPort: http}}
    - {{name: grpc, port: 8001, targetPort: grpc}}
    - {{name: metrics, port: 8002, targetPort: metrics}}
```
"""
