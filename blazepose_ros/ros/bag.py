"""Record ROS 2 topics into an MCAP bag (``ros2msg`` schemas, CDR payloads).

The files are what ``ros2 bag record -s mcap`` writes, so ``ros2 bag info``,
Foxglove and ``mcap_ros2.reader`` read them. Messages are taken serialized
from DDS (``raw=True`` subscriptions) and written as they are: no decoding.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from mcap.writer import CompressionType, Writer
from rclpy.node import Node
from rclpy.qos import QoSProfile

_BUILTIN = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
            "int32", "uint32", "int64", "uint64", "string", "wstring"}


def _msg_file(pkg: str, name: str) -> Path:
    return Path(get_package_share_directory(pkg)) / "msg" / f"{name}.msg"


def message_definition(type_name: str) -> str:
    """Full ``ros2msg`` definition of ``pkg/msg/Name``: its .msg text followed by
    every dependency, each after a ``MSG: pkg/Name`` separator (rosbag2's format)."""
    pkg, _, name = type_name.split("/")
    main = _msg_file(pkg, name).read_text()
    seen: list[str] = []

    def deps(text: str, own_pkg: str) -> None:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            # "pkg/Type[<=N]" -> "pkg/Type"; constants always have builtin types
            field_type = re.sub(r"\[.*?\]$", "", line.split()[0])
            if field_type in _BUILTIN or field_type.startswith(("string<", "wstring<")):
                continue
            dep = field_type if "/" in field_type else f"{own_pkg}/{field_type}"
            if dep == "Header":
                dep = "std_msgs/Header"
            if dep not in seen:
                seen.append(dep)
                dpkg, dname = dep.split("/")
                deps(_msg_file(dpkg, dname).read_text(), dpkg)

    deps(main, pkg)
    parts = [main.rstrip("\n")]
    for dep in seen:
        dpkg, dname = dep.split("/")
        parts.append("=" * 80 + f"\nMSG: {dep}\n" + _msg_file(dpkg, dname).read_text().rstrip("\n"))
    return "\n".join(parts) + "\n"


class McapRecorder:
    """Subscribe to topics and append their serialized messages to an MCAP file."""

    def __init__(self, node: Node, path: Path, topics: dict[str, type], qos: dict[str, QoSProfile]):
        self._writer = Writer(open(path, "wb"), compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="blazepose_ros")
        self._lock = threading.Lock()
        self._node = node
        self.counts: dict[str, int] = {}
        for topic, msg_type in topics.items():
            type_name = f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"
            schema_id = self._writer.register_schema(
                name=type_name, encoding="ros2msg", data=message_definition(type_name).encode())
            channel_id = self._writer.register_channel(topic=topic, message_encoding="cdr",
                                                       schema_id=schema_id)
            self.counts[topic] = 0
            node.create_subscription(msg_type, topic, self._make_cb(topic, channel_id),
                                     qos.get(topic, QoSProfile(depth=100)), raw=True)

    def _make_cb(self, topic: str, channel_id: int):
        def cb(data: bytes) -> None:
            now = self._node.get_clock().now().nanoseconds
            with self._lock:
                self._writer.add_message(channel_id, log_time=now, data=data, publish_time=now,
                                         sequence=self.counts[topic])
                self.counts[topic] += 1
        return cb

    def close(self) -> None:
        with self._lock:
            self._writer.finish()
