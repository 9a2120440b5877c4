/*
 * Native (C, rcl) camera and consumer for bench/bench_ros.py --native: what a C++ camera
 * driver and a C++ subscriber cost, so that the ROS overhead of pose_node is measured
 * without Python at both ends of the graph. Built by bench_ros.py with the system C compiler
 * against the rcl/rosidl headers and libraries of the venv and of the colcon install.
 *
 *   native_endpoints pub FRAMES_FILE WIDTH HEIGHT RATE_HZ SECONDS
 *       publishes the rgb8 frames of FRAMES_FILE (raw, concatenated, in a loop) as
 *       sensor_msgs/Image on "image" (sensor-data QoS: best effort, keep last 1), stamped
 *       with CLOCK_REALTIME just before rcl_publish; waits for a subscriber first.
 *   native_endpoints sub SECONDS
 *       takes blazepose_ros/PoseKeypoints33Array from "/pose_node/poses" (reliable, depth 50)
 *       and prints one line per message: "LATENCY_NS ARRIVAL_NS" (arrival - header stamp, on
 *       CLOCK_REALTIME; arrival on CLOCK_MONOTONIC, Python's time.monotonic()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rcl/rcl.h>
#include <rcl/wait.h>
#include <rcutils/allocator.h>
#include <rcutils/error_handling.h>
#include <rmw/qos_profiles.h>
#include <rosidl_runtime_c/primitives_sequence_functions.h>
#include <rosidl_runtime_c/string_functions.h>
#include <sensor_msgs/msg/image.h>
#include <blazepose_ros/msg/pose_keypoints33_array.h>

#define CHECK(call)                                                                  \
  do {                                                                               \
    rcl_ret_t ret_ = (call);                                                         \
    if (ret_ != RCL_RET_OK) {                                                        \
      fprintf(stderr, "%s failed (%d): %s\n", #call, (int)ret_,                      \
              rcutils_get_error_string().str);                                           \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_pub(rcl_node_t *node, const char *path, int w, int h, double rate, double seconds) {
  size_t frame_bytes = (size_t)w * h * 3;
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  size_t n_frames = (size_t)ftell(f) / frame_bytes;
  fseek(f, 0, SEEK_SET);
  if (n_frames == 0) {
    fprintf(stderr, "%s holds no %dx%d rgb8 frame\n", path, w, h);
    return 1;
  }
  unsigned char *frames = malloc(n_frames * frame_bytes);
  if (fread(frames, frame_bytes, n_frames, f) != n_frames) {
    fprintf(stderr, "short read of %s\n", path);
    return 1;
  }
  fclose(f);

  rcl_publisher_t pub = rcl_get_zero_initialized_publisher();
  rcl_publisher_options_t ops = rcl_publisher_get_default_options();
  ops.qos = rmw_qos_profile_sensor_data;
  ops.qos.depth = 1;
  CHECK(rcl_publisher_init(&pub, node, ROSIDL_GET_MSG_TYPE_SUPPORT(sensor_msgs, msg, Image), "image", &ops));

  sensor_msgs__msg__Image msg;
  sensor_msgs__msg__Image__init(&msg);
  rosidl_runtime_c__String__assign(&msg.encoding, "rgb8");
  rosidl_runtime_c__String__assign(&msg.header.frame_id, "camera_optical_frame");
  msg.width = (uint32_t)w;
  msg.height = (uint32_t)h;
  msg.step = (uint32_t)(3 * w);
  rosidl_runtime_c__uint8__Sequence__init(&msg.data, frame_bytes);

  size_t subs = 0;
  while (subs == 0) {
    CHECK(rcl_publisher_get_subscription_count(&pub, &subs));
    struct timespec pause = {0, 50000000};
    nanosleep(&pause, NULL);
  }
  double period = 1.0 / rate, start = mono_s(), next = start;
  for (size_t i = 0; mono_s() - start < seconds; ++i) {
    memcpy(msg.data.data, frames + (i % n_frames) * frame_bytes, frame_bytes);  /* the camera's DMA */
    int64_t t = now_ns();
    msg.header.stamp.sec = (int32_t)(t / 1000000000LL);
    msg.header.stamp.nanosec = (uint32_t)(t % 1000000000LL);
    CHECK(rcl_publish(&pub, &msg, NULL));
    next += period;
    double wait = next - mono_s();
    if (wait > 0) {
      struct timespec pause = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
      nanosleep(&pause, NULL);
    }
  }
  sensor_msgs__msg__Image__fini(&msg);
  free(frames);
  return rcl_publisher_fini(&pub, node) == RCL_RET_OK ? 0 : 1;
}

static int run_sub(rcl_node_t *node, rcl_context_t *context, double seconds) {
  rcl_subscription_t sub = rcl_get_zero_initialized_subscription();
  rcl_subscription_options_t ops = rcl_subscription_get_default_options();
  ops.qos = rmw_qos_profile_default;  /* reliable, volatile, keep last */
  ops.qos.depth = 50;
  CHECK(rcl_subscription_init(&sub, node, ROSIDL_GET_MSG_TYPE_SUPPORT(blazepose_ros, msg, PoseKeypoints33Array),
                              "/pose_node/poses", &ops));
  rcl_wait_set_t ws = rcl_get_zero_initialized_wait_set();
  CHECK(rcl_wait_set_init(&ws, 1, 0, 0, 0, 0, 0, context, rcl_get_default_allocator()));
  blazepose_ros__msg__PoseKeypoints33Array msg;
  blazepose_ros__msg__PoseKeypoints33Array__init(&msg);
  double start = mono_s();
  while (mono_s() - start < seconds) {
    CHECK(rcl_wait_set_clear(&ws));
    CHECK(rcl_wait_set_add_subscription(&ws, &sub, NULL));
    rcl_ret_t ret = rcl_wait(&ws, RCL_MS_TO_NS(100));
    if (ret == RCL_RET_TIMEOUT) continue;
    if (ret != RCL_RET_OK) {
      fprintf(stderr, "rcl_wait failed: %s\n", rcutils_get_error_string().str);
      return 1;
    }
    rmw_message_info_t info;
    while (rcl_take(&sub, &msg, &info, NULL) == RCL_RET_OK) {
      int64_t lat = now_ns() - ((int64_t)msg.header.stamp.sec * 1000000000LL + msg.header.stamp.nanosec);
      printf("%lld %lld\n", (long long)lat, (long long)(mono_s() * 1e9));
    }
    fflush(stdout);
  }
  blazepose_ros__msg__PoseKeypoints33Array__fini(&msg);
  CHECK(rcl_wait_set_fini(&ws));
  return rcl_subscription_fini(&sub, node) == RCL_RET_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  int is_pub = argc == 7 && strcmp(argv[1], "pub") == 0;
  int is_sub = argc == 3 && strcmp(argv[1], "sub") == 0;
  if (!is_pub && !is_sub) {
    fprintf(stderr, "usage: %s pub FRAMES_FILE WIDTH HEIGHT RATE_HZ SECONDS | sub SECONDS\n", argv[0]);
    return 2;
  }
  rcl_init_options_t init_ops = rcl_get_zero_initialized_init_options();
  CHECK(rcl_init_options_init(&init_ops, rcl_get_default_allocator()));
  rcl_context_t context = rcl_get_zero_initialized_context();
  CHECK(rcl_init(0, NULL, &init_ops, &context));
  rcl_node_t node = rcl_get_zero_initialized_node();
  rcl_node_options_t node_ops = rcl_node_get_default_options();
  CHECK(rcl_node_init(&node, is_pub ? "native_camera" : "native_consumer", "", &context, &node_ops));
  int rc = is_pub ? run_pub(&node, argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atof(argv[6]))
                  : run_sub(&node, &context, atof(argv[2]));
  rcl_node_fini(&node);
  rcl_shutdown(&context);
  rcl_context_fini(&context);
  rcl_init_options_fini(&init_ops);
  return rc;
}
