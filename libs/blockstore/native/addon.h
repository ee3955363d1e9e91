/* The addon's functions, registered together in addon.c. */
#ifndef ISLAND_ADDON_H
#define ISLAND_ADDON_H

#include <node_api.h>

napi_value aead_seal(napi_env env, napi_callback_info info);
napi_value aead_open(napi_env env, napi_callback_info info);
napi_value md5_many_buffers(napi_env env, napi_callback_info info);
napi_value md5_kinds(napi_env env, napi_callback_info info);
napi_value bytes_to_alignment(napi_env env, napi_callback_info info);

#endif
