/*
 * MD5 of many buffers at once, for the ETag that Swift checks on every block PUT (src/crypto/md5-many.ts).
 *
 * One MD5 is a chain of dependent 32-bit steps: no implementation of one stream goes much faster than OpenSSL's,
 * ~1.5 CPU-s per GiB here — a third of a first snapshot's CPU. Independent streams, though, fit side by side in
 * vector lanes: each AVX2 instruction does one step for 8 blocks, each AVX-512 instruction for 16. A snapshot seals
 * its blocks a batch at a time, so they are hashed together: a lane that finishes takes the next buffer, and the last
 * one or two buffers are finished by the scalar code (a vector step for one or two lanes costs more than theirs).
 */
#include "md5_lanes.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define X86 1
#endif

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1,
    0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453,
    0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942,
    0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
    0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d,
    0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint32_t IV[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

/* Each step's message word and rotation: the four rounds' schedules (constant expressions: rotations are immediates). */
#define WORD(i) ((i) < 16 ? (i) : (i) < 32 ? (5 * (i) + 1) % 16 : (i) < 48 ? (3 * (i) + 5) % 16 : (7 * (i)) % 16)
#define SHIFT(i) SHIFT_OF((i) / 16, (i) % 4)
#define SHIFT_OF(round, j) \
  ((round) == 0 ? 7 + 5 * (j) : (round) == 1 ? ((j) == 0 ? 5 : (j) == 1 ? 9 : (j) == 2 ? 14 : 20) : (round) == 2 ? ((j) == 0 ? 4 : (j) == 1 ? 11 : (j) == 2 ? 16 : 23) : ((j) == 0 ? 6 : (j) == 1 ? 10 : (j) == 2 ? 15 : 21))

/* ---- one stream ---- */

static inline uint32_t rotl32(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }

static inline uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

#define S_F(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define S_G(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define S_H(b, c, d) ((b) ^ (c) ^ (d))
#define S_I(b, c, d) ((c) ^ ((b) | ~(d)))
#define S_STEP(fn, a, b, c, d, i) a = b + rotl32(a + fn(b, c, d) + K[i] + m[WORD(i)], SHIFT(i))
#define S_FOUR(fn, i)            \
  S_STEP(fn, a, b, c, d, i);     \
  S_STEP(fn, d, a, b, c, i + 1); \
  S_STEP(fn, c, d, a, b, i + 2); \
  S_STEP(fn, b, c, d, a, i + 3)

static void md5_blocks_scalar(uint32_t h[4], const uint8_t *p, size_t blocks) {
  for (; blocks > 0; blocks--, p += 64) {
    uint32_t m[16];
    for (int j = 0; j < 16; j++) m[j] = le32(p + 4 * j);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    S_FOUR(S_F, 0); S_FOUR(S_F, 4); S_FOUR(S_F, 8); S_FOUR(S_F, 12);
    S_FOUR(S_G, 16); S_FOUR(S_G, 20); S_FOUR(S_G, 24); S_FOUR(S_G, 28);
    S_FOUR(S_H, 32); S_FOUR(S_H, 36); S_FOUR(S_H, 40); S_FOUR(S_H, 44);
    S_FOUR(S_I, 48); S_FOUR(S_I, 52); S_FOUR(S_I, 56); S_FOUR(S_I, 60);
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
  }
}

/* ---- lanes ---- */

/*
 * A lane hashes one buffer in two runs of contiguous 64-byte blocks: the buffer's whole blocks, then its padded tail
 * (the last bytes, 0x80, zeros, the length in bits) copied into the lane's own memory.
 */
typedef struct {
  size_t input; /* which buffer, or NONE */
  const uint8_t *next;
  size_t blocks; /* left in the current run */
  int in_tail;
  size_t tail_blocks;
  uint8_t tail[128];
} lane;

#define NONE ((size_t)-1)
/* A vector step (16 lanes) costs what 2 to 3 scalar ones do here: when only this many lanes are left busy, they finish one by one. */
#define SCALAR_AT_MOST 2
#define MAX_LANES 16

static void start_lane(lane *l, size_t input, const md5_input *in) {
  size_t whole = in->length / 64, rest = in->length % 64;
  memset(l->tail, 0, sizeof l->tail);
  if (rest > 0) memcpy(l->tail, in->data + whole * 64, rest); /* an empty Buffer may have no memory at all */
  l->tail[rest] = 0x80;
  l->tail_blocks = rest + 9 <= 64 ? 1 : 2;
  uint64_t bits = (uint64_t)in->length * 8;
  for (int i = 0; i < 8; i++) l->tail[l->tail_blocks * 64 - 8 + i] = (uint8_t)(bits >> (8 * i));
  l->input = input;
  l->in_tail = whole == 0;
  l->next = whole == 0 ? l->tail : in->data;
  l->blocks = whole == 0 ? l->tail_blocks : whole;
}

static void write_digest(const uint32_t h[4], uint8_t digest[16]) {
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) digest[4 * i + j] = (uint8_t)(h[i] >> (8 * j));
}

/* n lanes' states, word-major: state[w * n + k] is word w of lane k, as the vector kernels load them. */
typedef void (*lanes_kernel)(uint32_t *state, const uint8_t *const *next, size_t blocks);

/* unused where there is no vector kernel (other architectures than x86: node:crypto hashes there) */
__attribute__((unused)) static void md5_with_lanes(const md5_input *inputs, size_t count, uint8_t (*digests)[16], size_t n, lanes_kernel kernel) {
  lane lanes[MAX_LANES];
  uint32_t state[4 * MAX_LANES];
  const uint8_t *next[MAX_LANES];
  size_t queued = 0;
  for (size_t k = 0; k < n; k++) lanes[k].input = NONE;
  for (;;) {
    size_t active = 0;
    for (size_t k = 0; k < n; k++) {
      if (lanes[k].input == NONE && queued < count) {
        start_lane(&lanes[k], queued, &inputs[queued]);
        for (int w = 0; w < 4; w++) state[w * n + k] = IV[w];
        queued++;
      }
      if (lanes[k].input != NONE) active++;
    }
    if (active == 0) return;
    if (active <= SCALAR_AT_MOST && queued == count) break; /* the last buffers: scalar below */
    size_t run = (size_t)-1, busy = 0;
    for (size_t k = 0; k < n; k++)
      if (lanes[k].input != NONE) {
        if (lanes[k].blocks < run) run = lanes[k].blocks;
        busy = k;
      }
    /* an idle lane reads a busy lane's blocks alongside it (at least `run` of them); its result is never used */
    for (size_t k = 0; k < n; k++) next[k] = lanes[lanes[k].input == NONE ? busy : k].next;
    kernel(state, next, run);
    for (size_t k = 0; k < n; k++) {
      lane *l = &lanes[k];
      if (l->input == NONE) continue;
      l->next += run * 64;
      l->blocks -= run;
      if (l->blocks > 0) continue;
      if (!l->in_tail) {
        l->in_tail = 1;
        l->next = l->tail;
        l->blocks = l->tail_blocks;
        continue;
      }
      uint32_t h[4] = {state[k], state[n + k], state[2 * n + k], state[3 * n + k]};
      write_digest(h, digests[l->input]);
      l->input = NONE;
    }
  }
  for (size_t k = 0; k < n; k++) {
    lane *l = &lanes[k];
    if (l->input == NONE) continue;
    uint32_t h[4] = {state[k], state[n + k], state[2 * n + k], state[3 * n + k]};
    md5_blocks_scalar(h, l->next, l->blocks);
    if (!l->in_tail) md5_blocks_scalar(h, l->tail, l->tail_blocks);
    write_digest(h, digests[l->input]);
  }
}

static void md5_each_scalar(const md5_input *inputs, size_t count, uint8_t (*digests)[16]) {
  for (size_t i = 0; i < count; i++) {
    lane l;
    start_lane(&l, i, &inputs[i]);
    uint32_t h[4] = {IV[0], IV[1], IV[2], IV[3]};
    md5_blocks_scalar(h, l.next, l.blocks);
    if (!l.in_tail) md5_blocks_scalar(h, l.tail, l.tail_blocks);
    write_digest(h, digests[i]);
  }
}

#ifdef X86

/* The 8 lanes' words 0-7 (or 8-15) of their current block, one vector per word: an 8x8 transpose of 32-bit words. */
__attribute__((target("avx2"))) static inline void load_words_x8(const uint8_t *const *next, size_t offset, __m256i out[8]) {
  __m256i r[8], t[8], u[8];
  for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_si256((const __m256i *)(next[k] + offset));
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_epi32(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_epi32(r[k], r[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);
    u[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);
    u[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);
    u[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);
  }
  for (int w = 0; w < 4; w++) {
    out[w] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x20);
    out[w + 4] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x31);
  }
}

#define V8_ROTL(x, s) _mm256_or_si256(_mm256_slli_epi32((x), (s)), _mm256_srli_epi32((x), 32 - (s)))
#define V8_F(b, c, d) _mm256_xor_si256((d), _mm256_and_si256((b), _mm256_xor_si256((c), (d))))
#define V8_G(b, c, d) _mm256_xor_si256((c), _mm256_and_si256((d), _mm256_xor_si256((b), (c))))
#define V8_H(b, c, d) _mm256_xor_si256(_mm256_xor_si256((b), (c)), (d))
#define V8_I(b, c, d) _mm256_xor_si256((c), _mm256_or_si256((b), _mm256_xor_si256((d), ones)))
#define V8_STEP(fn, a, b, c, d, m, i)                                                                                                 \
  a = _mm256_add_epi32(                                                                                                               \
      b, V8_ROTL(_mm256_add_epi32(_mm256_add_epi32(a, fn(b, c, d)), _mm256_add_epi32((m)[WORD(i)], _mm256_set1_epi32((int)K[i]))), \
                 SHIFT(i)))
/* four steps of group x, then the same four of group y: two independent chains, so one's latency hides the other's */
#define V8_FOUR(fn, x, y, i)                                                                           \
  V8_STEP(fn, x.a, x.b, x.c, x.d, x.m, i), V8_STEP(fn, x.d, x.a, x.b, x.c, x.m, i + 1);               \
  V8_STEP(fn, x.c, x.d, x.a, x.b, x.m, i + 2), V8_STEP(fn, x.b, x.c, x.d, x.a, x.m, i + 3);           \
  V8_STEP(fn, y.a, y.b, y.c, y.d, y.m, i), V8_STEP(fn, y.d, y.a, y.b, y.c, y.m, i + 1);               \
  V8_STEP(fn, y.c, y.d, y.a, y.b, y.m, i + 2), V8_STEP(fn, y.b, y.c, y.d, y.a, y.m, i + 3)

typedef struct {
  __m256i a, b, c, d, m[16];
} group_x8;

/*
 * 16 lanes as two groups of 8. One group alone is latency-bound: each MD5 step waits for the one before (~7 dependent
 * instructions), while the CPU could issue three or four vector instructions a cycle. Two groups in one loop keep two
 * chains in flight: 0.56–0.67 → 0.34 CPU-s per GiB here (AMD EPYC, batches of 16 or 32).
 */
__attribute__((target("avx2"))) static void md5_x8x2(uint32_t *state, const uint8_t *const *next, size_t blocks) {
  const __m256i ones = _mm256_set1_epi32(-1);
  group_x8 g[2];
  for (int k = 0; k < 2; k++) {
    g[k].a = _mm256_loadu_si256((const __m256i *)(state + 8 * k));
    g[k].b = _mm256_loadu_si256((const __m256i *)(state + 16 + 8 * k));
    g[k].c = _mm256_loadu_si256((const __m256i *)(state + 32 + 8 * k));
    g[k].d = _mm256_loadu_si256((const __m256i *)(state + 48 + 8 * k));
  }
  for (size_t block = 0; block < blocks; block++) {
    __m256i start[2][4];
    for (int k = 0; k < 2; k++) {
      load_words_x8(next + 8 * k, block * 64, g[k].m);
      load_words_x8(next + 8 * k, block * 64 + 32, g[k].m + 8);
      start[k][0] = g[k].a, start[k][1] = g[k].b, start[k][2] = g[k].c, start[k][3] = g[k].d;
    }
    V8_FOUR(V8_F, g[0], g[1], 0); V8_FOUR(V8_F, g[0], g[1], 4); V8_FOUR(V8_F, g[0], g[1], 8); V8_FOUR(V8_F, g[0], g[1], 12);
    V8_FOUR(V8_G, g[0], g[1], 16); V8_FOUR(V8_G, g[0], g[1], 20); V8_FOUR(V8_G, g[0], g[1], 24); V8_FOUR(V8_G, g[0], g[1], 28);
    V8_FOUR(V8_H, g[0], g[1], 32); V8_FOUR(V8_H, g[0], g[1], 36); V8_FOUR(V8_H, g[0], g[1], 40); V8_FOUR(V8_H, g[0], g[1], 44);
    V8_FOUR(V8_I, g[0], g[1], 48); V8_FOUR(V8_I, g[0], g[1], 52); V8_FOUR(V8_I, g[0], g[1], 56); V8_FOUR(V8_I, g[0], g[1], 60);
    for (int k = 0; k < 2; k++) {
      g[k].a = _mm256_add_epi32(g[k].a, start[k][0]), g[k].b = _mm256_add_epi32(g[k].b, start[k][1]);
      g[k].c = _mm256_add_epi32(g[k].c, start[k][2]), g[k].d = _mm256_add_epi32(g[k].d, start[k][3]);
    }
  }
  for (int k = 0; k < 2; k++) {
    _mm256_storeu_si256((__m256i *)(state + 8 * k), g[k].a), _mm256_storeu_si256((__m256i *)(state + 16 + 8 * k), g[k].b);
    _mm256_storeu_si256((__m256i *)(state + 32 + 8 * k), g[k].c), _mm256_storeu_si256((__m256i *)(state + 48 + 8 * k), g[k].d);
  }
}

/* ternary logic tables over (b, c, d): F = b ? c : d, G = d ? b : c, H = b ^ c ^ d, I = c ^ (b | ~d) */
#define V16_F(b, c, d) _mm512_ternarylogic_epi32((b), (c), (d), 0xca)
#define V16_G(b, c, d) _mm512_ternarylogic_epi32((b), (c), (d), 0xe4)
#define V16_H(b, c, d) _mm512_ternarylogic_epi32((b), (c), (d), 0x96)
#define V16_I(b, c, d) _mm512_ternarylogic_epi32((b), (c), (d), 0x39)
#define V16_STEP(fn, a, b, c, d, m, i)                                                                                    \
  a = _mm512_add_epi32(                                                                                                   \
      b, _mm512_rol_epi32(_mm512_add_epi32(_mm512_add_epi32(a, fn(b, c, d)), _mm512_add_epi32((m)[WORD(i)], _mm512_set1_epi32((int)K[i]))), \
                          SHIFT(i)))
#define V16_FOUR(fn, i)                                                                                     \
  V16_STEP(fn, a, b, c, d, m, i), V16_STEP(fn, d, a, b, c, m, i + 1), V16_STEP(fn, c, d, a, b, m, i + 2), \
      V16_STEP(fn, b, c, d, a, m, i + 3)

/*
 * 16 lanes, one group: unlike AVX2's, its steps are short enough (a rotate and a ternary-logic function are one
 * instruction each) that one chain keeps the vector units about as busy as two (32 lanes measured the same here) —
 * and a batch of 16 blocks fills it.
 */
__attribute__((target("avx2,avx512f"))) static void md5_x16(uint32_t *state, const uint8_t *const *next, size_t blocks) {
  __m512i a = _mm512_loadu_si512(state), b = _mm512_loadu_si512(state + 16), c = _mm512_loadu_si512(state + 32), d = _mm512_loadu_si512(state + 48);
  for (size_t block = 0; block < blocks; block++) {
    __m256i low[16], high[16];
    load_words_x8(next, block * 64, low);
    load_words_x8(next, block * 64 + 32, low + 8);
    load_words_x8(next + 8, block * 64, high);
    load_words_x8(next + 8, block * 64 + 32, high + 8);
    __m512i m[16];
    for (int w = 0; w < 16; w++) m[w] = _mm512_inserti64x4(_mm512_castsi256_si512(low[w]), high[w], 1);
    __m512i a0 = a, b0 = b, c0 = c, d0 = d;
    V16_FOUR(V16_F, 0); V16_FOUR(V16_F, 4); V16_FOUR(V16_F, 8); V16_FOUR(V16_F, 12);
    V16_FOUR(V16_G, 16); V16_FOUR(V16_G, 20); V16_FOUR(V16_G, 24); V16_FOUR(V16_G, 28);
    V16_FOUR(V16_H, 32); V16_FOUR(V16_H, 36); V16_FOUR(V16_H, 40); V16_FOUR(V16_H, 44);
    V16_FOUR(V16_I, 48); V16_FOUR(V16_I, 52); V16_FOUR(V16_I, 56); V16_FOUR(V16_I, 60);
    a = _mm512_add_epi32(a, a0), b = _mm512_add_epi32(b, b0), c = _mm512_add_epi32(c, c0), d = _mm512_add_epi32(d, d0);
  }
  _mm512_storeu_si512(state, a), _mm512_storeu_si512(state + 16, b), _mm512_storeu_si512(state + 32, c), _mm512_storeu_si512(state + 48, d);
}

#endif

int md5_lanes_supported(md5_lanes_kind kind) {
  switch (kind) {
    case MD5_SCALAR:
      return 1;
#ifdef X86
    case MD5_AVX2:
      return __builtin_cpu_supports("avx2");
    case MD5_AVX512:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f");
#endif
    default:
      return 0;
  }
}

md5_lanes_kind md5_lanes_best(void) {
  if (md5_lanes_supported(MD5_AVX512)) return MD5_AVX512;
  if (md5_lanes_supported(MD5_AVX2)) return MD5_AVX2;
  return MD5_SCALAR;
}

void md5_many(md5_lanes_kind kind, const md5_input *inputs, size_t count, uint8_t (*digests)[16]) {
  switch (kind) {
#ifdef X86
    case MD5_AVX512:
      md5_with_lanes(inputs, count, digests, 16, md5_x16);
      return;
    case MD5_AVX2:
      md5_with_lanes(inputs, count, digests, 16, md5_x8x2);
      return;
#endif
    default:
      md5_each_scalar(inputs, count, digests);
  }
}
