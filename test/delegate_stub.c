/* A minimal TFLite external delegate for tests: implements the plugin C ABI
 * (tflite_plugin_create_delegate / tflite_plugin_destroy_delegate) and returns a
 * TfLiteDelegate whose Prepare claims no nodes, so the interpreter runs every op
 * on its own CPU kernels. Counters let the test check that TFLite really called it.
 *
 * The struct mirrors TfLiteDelegate in tensorflow/lite/core/c/common.h (TF >= 2.12):
 * data_, Prepare, CopyFromBufferHandle, CopyToBufferHandle, FreeBufferHandle,
 * flags, opaque_delegate_builder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int TfLiteStatus; /* kTfLiteOk = 0, kTfLiteError = 1 */

typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(void* context, struct TfLiteDelegate* delegate);
  TfLiteStatus (*CopyFromBufferHandle)(void* context, struct TfLiteDelegate* delegate, int handle,
                                       void* tensor);
  TfLiteStatus (*CopyToBufferHandle)(void* context, struct TfLiteDelegate* delegate, int handle,
                                     void* tensor);
  void (*FreeBufferHandle)(void* context, struct TfLiteDelegate* delegate, int* handle);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static int g_created = 0;
static int g_destroyed = 0;
static int g_prepared = 0;
static int g_fail_prepare = 0;
static char g_last_option[256] = "";

int stub_created(void) { return g_created; }
int stub_destroyed(void) { return g_destroyed; }
int stub_prepared(void) { return g_prepared; }
const char* stub_last_option(void) { return g_last_option; }

static TfLiteStatus stub_prepare(void* context, TfLiteDelegate* delegate) {
  (void)context;
  (void)delegate;
  g_prepared++;
  return g_fail_prepare ? 1 : 0; /* claim no ops: never call ReplaceNodeSubsetsWithDelegateKernels */
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*)) {
  g_fail_prepare = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(keys[i], "refuse") == 0) {
      if (report_error) report_error("stub delegate: refused by option");
      return NULL;
    }
    if (strcmp(keys[i], "fail_prepare") == 0) g_fail_prepare = 1;
    strncpy(g_last_option, keys[i], 100);
    strcat(g_last_option, "=");
    strncat(g_last_option, values[i], 100);
  }
  TfLiteDelegate* d = (TfLiteDelegate*)calloc(1, sizeof(TfLiteDelegate));
  d->Prepare = stub_prepare;
  g_created++;
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {
  g_destroyed++;
  free(d);
}
