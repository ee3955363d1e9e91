/*
 * md5Many(buffers[, kind]): a Buffer of 16 bytes per buffer, their MD5 digests in order, computed side by side in
 * vector lanes (md5_lanes.c); `kind` ('avx512', 'avx2' or 'scalar', default the widest this CPU runs) is for specs
 * and benches that compare them. md5Kinds(): the kinds this CPU runs, widest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"
#include "md5_lanes.h"

static const char *const KIND_NAMES[] = {"scalar", "avx2", "avx512"};

static int kind_argument(napi_env env, napi_value value, md5_lanes_kind *kind) {
  char name[16];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "md5Many(buffers, kind): kind is not a string");
    return 0;
  }
  for (int k = MD5_AVX512; k >= MD5_SCALAR; k--)
    if (strcmp(name, KIND_NAMES[k]) == 0) {
      if (!md5_lanes_supported((md5_lanes_kind)k)) break;
      *kind = (md5_lanes_kind)k;
      return 1;
    }
  char message[96];
  snprintf(message, sizeof message, "md5Many(buffers, kind): '%s' is not a kind this CPU runs", name);
  napi_throw_range_error(env, NULL, message);
  return 0;
}

napi_value md5_many_buffers(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  bool is_array = false;
  uint32_t count = 0;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "md5Many(buffers, kind): buffers is not an array");
    return NULL;
  }
  md5_lanes_kind kind = md5_lanes_best();
  if (argc >= 2 && !kind_argument(env, argv[1], &kind)) return NULL;
  md5_input *inputs = calloc(count > 0 ? count : 1, sizeof *inputs);
  if (inputs == NULL) {
    napi_throw_error(env, NULL, "md5Many: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    bool is_buffer = false;
    if (napi_get_element(env, argv[0], i, &element) != napi_ok || napi_is_buffer(env, element, &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, element, (void **)&inputs[i].data, &inputs[i].length) != napi_ok) {
      free(inputs);
      char message[96];
      snprintf(message, sizeof message, "md5Many(buffers, kind): buffers[%u] is not a Buffer", i);
      napi_throw_type_error(env, NULL, message);
      return NULL;
    }
  }
  napi_value result;
  uint8_t(*digests)[16] = NULL;
  if (napi_create_buffer(env, (size_t)count * 16, (void **)&digests, &result) != napi_ok) {
    free(inputs);
    return NULL;
  }
  md5_many(kind, inputs, count, digests);
  free(inputs);
  return result;
}

napi_value md5_kinds(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value array;
  napi_create_array(env, &array);
  uint32_t at = 0;
  for (int k = MD5_AVX512; k >= MD5_SCALAR; k--) {
    if (!md5_lanes_supported((md5_lanes_kind)k)) continue;
    napi_value name;
    napi_create_string_utf8(env, KIND_NAMES[k], NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, array, at++, name);
  }
  return array;
}
