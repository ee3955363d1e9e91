/* MD5 of many buffers at once in vector lanes (md5_lanes.c); no Node-API here. */
#ifndef ISLAND_MD5_LANES_H
#define ISLAND_MD5_LANES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *data;
  size_t length;
} md5_input;

typedef enum { MD5_SCALAR = 0, MD5_AVX2 = 1, MD5_AVX512 = 2 } md5_lanes_kind;

/* Whether this CPU runs `kind` (the scalar code runs everywhere). */
int md5_lanes_supported(md5_lanes_kind kind);

/* The widest kind this CPU runs. */
md5_lanes_kind md5_lanes_best(void);

/* digests[i] = MD5(inputs[i]) for every i < count, computed with `kind`, which the caller checked is supported. */
void md5_many(md5_lanes_kind kind, const md5_input *inputs, size_t count, uint8_t (*digests)[16]);

#endif
