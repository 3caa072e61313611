"""TensorRT engines: shape profiles, precision policy, manifests, the engine cache, plan headers, the
ONNX-TensorRT compatibility check and the engine doctor — all torch- and TensorRT-free, so they are tested
and usable (e.g. by `effrestore inspect`) where TensorRT is not installed. Only `builder` and `plugins`
import TensorRT, lazily, when an engine is actually built."""
