/*
 * bytesToAlignment(memory, alignment): how many bytes from the start of `memory` (an ArrayBuffer or a view of one) to
 * the first address that is a multiple of `alignment` (a power of two): 0 when it starts aligned. Writes that bypass
 * the page cache (O_DIRECT) need their memory aligned, and JavaScript cannot see an address.
 */
#include <stdint.h>

#include "addon.h"

static int memory_start(napi_env env, napi_value value, uintptr_t *start) {
  bool is_arraybuffer = false, is_typedarray = false;
  void *data = NULL;
  if (napi_is_arraybuffer(env, value, &is_arraybuffer) != napi_ok) return 0;
  if (is_arraybuffer) {
    size_t length = 0;
    if (napi_get_arraybuffer_info(env, value, &data, &length) != napi_ok) return 0;
    *start = (uintptr_t)data;
    return 1;
  }
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray) return 0;
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  napi_value arraybuffer;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &arraybuffer, &byte_offset) != napi_ok) return 0;
  *start = (uintptr_t)data; /* data already points at the view's first byte */
  return 1;
}

napi_value bytes_to_alignment(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uintptr_t start = 0;
  if (argc < 2 || !memory_start(env, argv[0], &start)) {
    napi_throw_type_error(env, NULL, "bytesToAlignment(memory, alignment): memory is not an ArrayBuffer or a view of one");
    return NULL;
  }
  uint32_t alignment = 0;
  if (napi_get_value_uint32(env, argv[1], &alignment) != napi_ok || alignment == 0 || (alignment & (alignment - 1)) != 0) {
    napi_throw_range_error(env, NULL, "bytesToAlignment(memory, alignment): alignment is not a power of two");
    return NULL;
  }
  napi_value result;
  napi_create_uint32(env, (uint32_t)((alignment - (start & (alignment - 1))) & (alignment - 1)), &result);
  return result;
}
