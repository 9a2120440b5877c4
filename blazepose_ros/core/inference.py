"""TFLite runtime wrapper: interpreter selection, delegates, zero-copy input buffers.

Runtimes, in order of preference: ``ai_edge_litert.interpreter`` (LiteRT, the
current name of TFLite), ``tflite_runtime.interpreter``, ``tensorflow.lite``.

Delegates:

* ``cpu``     -- the runtime's default CPU path (XNNPACK).
* ``gpu``     -- the TFLite GPU delegate, ``libtensorflowlite_gpu_delegate.so``.
* ``edgetpu`` -- ``libedgetpu.so.1`` plus a model compiled for it (``*_edgetpu.tflite``).
* ``auto``    -- try the accelerators that fit the model, fall back to CPU;
  :attr:`TFLiteModel.active_delegate` says which one runs. An Edge TPU build of the
  model beside it (``<name>_edgetpu.tflite`` next to ``<name>.tflite``) is tried first:
  :attr:`TFLiteModel.path` is then the file that really runs.

``delegate_library`` loads any other external delegate (``.so`` implementing
``tflite_plugin_create_delegate`` / ``tflite_plugin_destroy_delegate``).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .models import ModelError

log = logging.getLogger(__name__)

DELEGATES = ("cpu", "gpu", "edgetpu", "auto")
GPU_DELEGATE_LIB = os.environ.get("BLAZEPOSE_GPU_DELEGATE", "libtensorflowlite_gpu_delegate.so")
EDGETPU_LIB = os.environ.get("BLAZEPOSE_EDGETPU_LIB", "libedgetpu.so.1")


class InferenceError(RuntimeError):
    """The runtime failed to load or run a model; the message says how to fix it."""


class DelegateError(InferenceError):
    """A hardware/external delegate could not be loaded or applied."""


def _runtime() -> tuple[type, Callable[..., Any], str]:
    """(Interpreter class, load_delegate function, runtime name)."""
    try:
        from ai_edge_litert import interpreter as rt

        return rt.Interpreter, rt.load_delegate, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as rt  # type: ignore[import-not-found]

        return rt.Interpreter, rt.load_delegate, "tflite_runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf  # type: ignore[import-not-found]

        return tf.lite.Interpreter, tf.lite.experimental.load_delegate, "tensorflow"
    except ImportError:
        pass
    raise InferenceError("no TFLite runtime found: `pip install ai-edge-litert` "
                         "(or tflite-runtime / tensorflow)")


def load_external_delegate(library: str | Path, options: dict[str, str] | None = None,
                           hint: str = "") -> Any:
    """Load an external delegate shared library; DelegateError naming file + fix."""
    _, load_delegate, _ = _runtime()
    lib = str(library)
    if os.sep in lib and not Path(lib).is_file():
        raise DelegateError(f"delegate library '{lib}' does not exist. Fix: "
                            f"{hint or 'check the path (build the .so first)'}")
    fix = hint or ("check that it is built for this CPU architecture, exports "
                   "tflite_plugin_create_delegate, accepts the options given, and that its "
                   "dependencies are on LD_LIBRARY_PATH")
    try:  # dlopen first: a clear error, and LiteRT's Delegate.__del__ trips over a failed load
        ctypes.CDLL(lib)
    except OSError as e:
        raise DelegateError(f"cannot load delegate library '{lib}': {e}. Fix: {fix}") from e
    try:
        return load_delegate(lib, options or {})
    except (ValueError, OSError, RuntimeError, AttributeError) as e:
        raise DelegateError(f"cannot load delegate library '{lib}': {e}. Fix: {fix}") from e


def _gpu_delegate() -> Any:
    return load_external_delegate(
        GPU_DELEGATE_LIB,
        hint=(f"build or install the TFLite GPU delegate ({GPU_DELEGATE_LIB}, e.g. "
              "`bazel build -c opt //tensorflow/lite/delegates/gpu:libtensorflowlite_gpu_delegate.so`"
              "), put it on LD_LIBRARY_PATH or set BLAZEPOSE_GPU_DELEGATE to its path; "
              "or use delegate='cpu'"))


def edgetpu_sibling(model_path: Path) -> Path | None:
    """``<stem>_edgetpu.tflite`` beside ``model_path`` (what ``edgetpu_compiler`` writes), if it
    exists and is not the model itself."""
    if model_path.name.endswith("_edgetpu.tflite"):
        return None
    sib = model_path.with_name(f"{model_path.stem}_edgetpu.tflite")
    return sib if sib.is_file() else None


def _edgetpu_delegate(model_path: Path) -> Any:
    if not model_path.name.endswith("_edgetpu.tflite"):
        raise DelegateError(
            f"the Edge TPU needs a model compiled for it, got '{model_path}'. Fix: compile it with "
            "`edgetpu_compiler` and pass the resulting '*_edgetpu.tflite' file, or use delegate='cpu'")
    return load_external_delegate(
        EDGETPU_LIB,
        hint=(f"install the Edge TPU runtime ({EDGETPU_LIB}: `apt-get install libedgetpu1-std` from "
              "the Coral repository) and plug in the device; or use delegate='cpu'"))


class TFLiteModel:
    """One TFLite model with a fixed-shape float input, run on a chosen delegate.

    ``input_view()`` returns a view into the interpreter's own input buffer:
    write the frame there, drop the view, then :meth:`invoke`. Outputs are read
    by index with :meth:`output_view` (a view valid until the next invoke; do
    not keep it across invokes) or copied with :meth:`output`.
    """

    def __init__(self, path: str | Path, delegate: str = "cpu", num_threads: int = 1,
                 delegate_library: str | Path | None = None,
                 delegate_options: dict[str, str] | None = None,
                 model_content: bytes | None = None) -> None:
        """``model_content``: the flatbuffer to run instead of the file's own bytes (e.g.
        pruned by :mod:`.model_surgery`); ``path`` still names the model in messages.
        With ``delegate="auto"`` and an Edge TPU sibling (:func:`edgetpu_sibling`) that file
        is tried first, from disk (``model_content`` belongs to ``path``)."""
        self.path = Path(path)
        self.requested_path = self.path
        self.model_content = model_content  # the interpreter reads it in place: keep it alive
        if delegate not in DELEGATES:
            raise ValueError(f"delegate must be one of {DELEGATES}, got {delegate!r}")
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        if not self.path.is_file():
            raise ModelError(f"model file '{self.path}' does not exist")
        interpreter_cls, _, self.runtime = _runtime()
        self.requested_delegate = delegate
        self.num_threads = num_threads
        self._delegate_obj: Any = None

        # (name, delegate factory or None for CPU, model file, in-memory flatbuffer or None)
        own = (self.path, model_content)
        candidates: list[tuple[str, Callable[[], Any] | None, Path, bytes | None]] = []
        if delegate_library is not None:
            lib = delegate_library
            candidates.append((f"external:{Path(str(lib)).name}",
                               lambda: load_external_delegate(lib, delegate_options), *own))
        elif delegate == "gpu":
            candidates.append(("gpu", _gpu_delegate, *own))
        elif delegate == "edgetpu":
            candidates.append(("edgetpu", lambda: _edgetpu_delegate(self.path), *own))
        elif delegate == "auto":
            tpu_model = (self.path if self.path.name.endswith("_edgetpu.tflite")
                         else edgetpu_sibling(self.path))
            if tpu_model is not None:
                tpu_content = model_content if tpu_model == self.path else None
                candidates.append(("edgetpu", lambda: _edgetpu_delegate(tpu_model), tpu_model, tpu_content))
            candidates.append(("gpu", _gpu_delegate, *own))
        if delegate == "auto" or (delegate == "cpu" and delegate_library is None):
            candidates.append(("cpu", None, *own))

        errors: list[str] = []
        for name, make, cand_path, cand_content in candidates:
            try:
                self.path, self.model_content = cand_path, cand_content
                dlg = make() if make is not None else None
                self._interp = self._build(interpreter_cls, dlg)
            except DelegateError as e:
                if delegate != "auto":
                    raise
                errors.append(f"{name}: {e}")
                log.info("delegate %s unavailable for %s: %s", name, self.path.name, e)
                continue
            except ModelError:
                raise
            self._delegate_obj = dlg
            self.active_delegate = name
            break
        else:  # only reachable if every candidate failed (cpu never raises DelegateError)
            raise DelegateError("; ".join(errors) or "no delegate could be applied")
        self.delegate_errors = errors  # why the delegates tried before the active one were skipped
        if delegate == "auto":
            log.info("%s runs on %s (%s)", self.path.name, self.active_delegate, self.runtime)

        inp = self._interp.get_input_details()
        if len(inp) != 1:
            raise ModelError(f"model '{self.path}' has {len(inp)} inputs, expected 1")
        self.input_index = int(inp[0]["index"])
        self.input_shape = tuple(int(d) for d in inp[0]["shape"])
        self.input_dtype = inp[0]["dtype"]
        outs = self._interp.get_output_details()
        self.output_details = outs
        self.output_shapes = [tuple(int(d) for d in o["shape"]) for o in outs]
        self._in = self._interp.tensor(self.input_index)
        self._outs = [self._interp.tensor(int(o["index"])) for o in outs]

    def _build(self, interpreter_cls: type, dlg: Any) -> Any:
        kwargs: dict[str, Any] = {"num_threads": self.num_threads}
        if self.model_content is not None:
            kwargs["model_content"] = self.model_content
        else:
            kwargs["model_path"] = str(self.path)
        if dlg is not None:
            kwargs["experimental_delegates"] = [dlg]
        try:
            interp = interpreter_cls(**kwargs)
        except (ValueError, RuntimeError) as e:
            msg = str(e)
            if dlg is not None and "delegate" in msg.lower():
                raise DelegateError(f"delegate could not be applied to '{self.path}': {msg}. "
                                    "Fix: use a model the delegate supports, or delegate='cpu'") from e
            raise ModelError(f"cannot load model '{self.path}': {msg}. Fix: the file is corrupt or not "
                             "a TFLite model -- delete it and fetch it again "
                             "(`python scripts/fetch_models.py`)") from e
        try:
            interp.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"cannot allocate tensors for '{self.path}': {e}. Fix: check that the model "
                             "and the runtime versions match, or re-fetch the model") from e
        return interp

    # --- I/O -----------------------------------------------------------------
    def require_square_rgb_input(self, size: int, role: str) -> None:
        """Raise ModelError unless the input is (1, size, size, 3); ``role`` names the model."""
        if self.input_shape != (1, size, size, 3):
            raise ModelError(f"{role} model '{self.path}' input is {self.input_shape}, "
                             f"expected (1, {size}, {size}, 3)")

    def input_view(self) -> np.ndarray:
        """Writable view of the input tensor (e.g. shape (1, H, W, 3) float32)."""
        return self._in()

    def invoke(self) -> None:
        try:
            self._interp.invoke()
        except RuntimeError as e:
            raise InferenceError(f"inference failed for '{self.path.name}' on "
                                 f"{self.active_delegate}: {e}") from e

    def output_view(self, i: int) -> np.ndarray:
        """View of output ``i`` (the model's output order); valid until the next invoke."""
        return self._outs[i]()

    def output(self, i: int) -> np.ndarray:
        """A copy of output ``i``."""
        return np.array(self._outs[i](), copy=True)

    def __repr__(self) -> str:
        return (f"TFLiteModel({self.path.name!r}, delegate={self.active_delegate!r}, "
                f"threads={self.num_threads}, runtime={self.runtime!r})")
