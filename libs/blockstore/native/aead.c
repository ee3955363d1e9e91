/*
 * AES-256-GCM into memory the caller owns, for island's sealed objects (src/crypto/aead.ts).
 *
 * node:crypto's cipher returns each update's output in a Buffer of its own: for a 1 MiB block, a fresh 1 MiB of
 * memory per block that the caller then copies where it belongs. On these VMs glibc hands much of that memory back to
 * the kernel between blocks, so every block faults it in again (up to 256 page faults per MiB, ~10 us each): a seal
 * that costs 0.26 CPU-s per GiB in place cost 0.6 to 3.3 through node:crypto (docs/performance.md). Here the cipher
 * writes straight into the caller's Buffer, with OpenSSL's EVP interface — the OpenSSL Node.js itself is built with,
 * whose symbols the node binary exports to addons.
 */
#include "addon.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define MAX_BYTES 0x7fffffff /* EVP lengths are ints */

typedef struct {
  unsigned char *data;
  size_t length;
} bytes;

/* The call's five Buffers (key, nonce, associated data, input, output), or a thrown TypeError naming the call. */
static int five_buffers(napi_env env, napi_callback_info info, const char *call, bytes out[5]) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  for (size_t i = 0; i < 5; i++) {
    bool is_buffer = false;
    if (i >= argc || napi_is_buffer(env, argv[i], &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, argv[i], (void **)&out[i].data, &out[i].length) != napi_ok) {
      char message[160];
      snprintf(message, sizeof message, "%s(key, nonce, associatedData, input, output) takes five Buffers; argument %zu is not one", call, i + 1);
      napi_throw_type_error(env, NULL, message);
      return 0;
    }
  }
  return 1;
}

static int sizes_fit(napi_env env, const char *call, const bytes *key, const bytes *nonce, const bytes *aad, size_t input, size_t output,
                     size_t expected_output) {
  char message[200];
  if (key->length != KEY_BYTES) snprintf(message, sizeof message, "%s: the key is %zu bytes, not %d", call, key->length, KEY_BYTES);
  else if (nonce->length != NONCE_BYTES) snprintf(message, sizeof message, "%s: the nonce is %zu bytes, not %d", call, nonce->length, NONCE_BYTES);
  else if (input > MAX_BYTES || aad->length > MAX_BYTES) snprintf(message, sizeof message, "%s: input or associated data over %d bytes", call, MAX_BYTES);
  else if (output != expected_output) snprintf(message, sizeof message, "%s: the output is %zu bytes, not %zu", call, output, expected_output);
  else return 1;
  napi_throw_range_error(env, NULL, message);
  return 0;
}

/* seal(key, nonce, aad, plaintext, output): output = ciphertext (plaintext's length) then the 16-byte tag. */
napi_value aead_seal(napi_env env, napi_callback_info info) {
  bytes a[5];
  if (!five_buffers(env, info, "seal", a)) return NULL;
  bytes key = a[0], nonce = a[1], aad = a[2], plain = a[3], out = a[4];
  if (!sizes_fit(env, "seal", &key, &nonce, &aad, plain.length, out.length, plain.length + TAG_BYTES)) return NULL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int written = 0;
  int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
           EVP_EncryptInit_ex(ctx, NULL, NULL, key.data, nonce.data) == 1 &&
           EVP_EncryptUpdate(ctx, NULL, &written, aad.data, (int)aad.length) == 1 &&
           EVP_EncryptUpdate(ctx, out.data, &written, plain.data, (int)plain.length) == 1 &&
           EVP_EncryptFinal_ex(ctx, out.data + written, &written) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out.data + plain.length) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) napi_throw_error(env, NULL, "seal: OpenSSL's AES-256-GCM failed");
  return NULL;
}

/*
 * open(key, nonce, aad, sealed, output): true when sealed (ciphertext then tag) authenticates, its plaintext in output;
 * false otherwise, output zeroed so that no unauthenticated byte is left to use.
 */
napi_value aead_open(napi_env env, napi_callback_info info) {
  bytes a[5];
  if (!five_buffers(env, info, "open", a)) return NULL;
  bytes key = a[0], nonce = a[1], aad = a[2], sealed = a[3], out = a[4];
  if (sealed.length < TAG_BYTES) {
    napi_throw_range_error(env, NULL, "open: the sealed bytes are shorter than a tag");
    return NULL;
  }
  size_t plain = sealed.length - TAG_BYTES;
  if (!sizes_fit(env, "open", &key, &nonce, &aad, sealed.length, out.length, plain)) return NULL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int written = 0;
  int ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
           EVP_DecryptInit_ex(ctx, NULL, NULL, key.data, nonce.data) == 1 &&
           EVP_DecryptUpdate(ctx, NULL, &written, aad.data, (int)aad.length) == 1 &&
           EVP_DecryptUpdate(ctx, out.data, &written, sealed.data, (int)plain) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, sealed.data + plain) == 1 &&
           EVP_DecryptFinal_ex(ctx, out.data + written, &written) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok && out.length > 0) memset(out.data, 0, out.length);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}
