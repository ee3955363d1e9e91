/* island's native addon: AES-256-GCM into given memory (aead.c), MD5 of many buffers at once (md5_napi.c) and where memory
 * starts relative to an alignment (memory.c). */
#include "addon.h"

static void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

NAPI_MODULE_INIT() {
  export_function(env, exports, "seal", aead_seal);
  export_function(env, exports, "open", aead_open);
  export_function(env, exports, "md5Many", md5_many_buffers);
  export_function(env, exports, "md5Kinds", md5_kinds);
  export_function(env, exports, "bytesToAlignment", bytes_to_alignment);
  return exports;
}
