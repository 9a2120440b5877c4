#!/usr/bin/env bash
# Creates (idempotently) the MediaPipe reference venv used by bench/make_reference.py,
# bench/parity.py --live and bench/bench_vs_mediapipe.py.
#
# It lives OUTSIDE the repository (about 1 GB): ${BLAZEPOSE_REF_VENV:-~/.cache/blazepose_ros/mediapipe-ref}.
# Pins: mediapipe==0.10.21 is the reference. It is built against NumPy 1.x and
# protobuf 4.x; opencv-contrib-python (its own dependency) is pinned to a build
# that still supports NumPy 1.x.
#
# Usage: bash bench/reference_env.sh        # prints the venv's python on the last line
set -euo pipefail

VENV="${BLAZEPOSE_REF_VENV:-$HOME/.cache/blazepose_ros/mediapipe-ref}"
PY="${PYTHON:-python3.11}"
PINS=(
  "mediapipe==0.10.21"
  "numpy==1.26.4"
  "opencv-contrib-python==4.10.0.84"
  "protobuf==4.25.5"
)

stamp="$VENV/.blazepose_ref_ok"
want="${PINS[*]}"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && "$VENV/bin/python" -c "import mediapipe" >/dev/null 2>&1; then
  echo "$VENV/bin/python"
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet "${PINS[@]}" >&2
"$VENV/bin/python" - <<'PY' >&2
import mediapipe as mp, numpy, cv2
print("mediapipe", mp.__version__, "numpy", numpy.__version__, "cv2", cv2.__version__)
assert mp.__version__ == "0.10.21"
from mediapipe.python.solutions import pose  # noqa: F401
PY
echo "$want" > "$stamp"
echo "$VENV/bin/python"
