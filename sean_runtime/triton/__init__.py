"""Scale-out serving on Triton Inference Server (docs/triton.md).

Modules, each with one job:
  interface    the model names of a repository and the tensors of the model clients call (`<name>`):
               the one owner of that tensor form; graph models take the manifest's tensors
  config       config.pbtxt text of every model, and its offline check with tritonclient's model_config_pb2
  settings     RepositorySettings: how `sean export-triton` lays a repository out, and the checks of its values
  repository   `sean export-triton`: the repository folder, written atomically
  readme       the README.md of an exported repository: how to run it where it is going
  models       the Python-backend models (run inside Triton's Python stub, not imported elsewhere)
  environment  the interpreter the Python models run in (numpy < 2 for the stub), made and checked
  server       `sean triton`: the tritonserver of nvidia-pytriton on a repository, loopback by default
  client       TritonSynthesizer: Synthesizer's calls over KServe v2 (tritonclient, HTTP or gRPC)
"""
