/*
** rng.h -- synlua's random numbers: a counter-based Philox4x32-10 generator
** (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3") and
** the fills built on it.
**
** A generator is only (seed, offset). One Philox call maps the 128-bit
** counter (block number as 64 bits, then two zero words) and the 64-bit key
** (the seed) to a block of four 32-bit words. A draw of n elements reads the
** blocks offset, offset+1, ... and then advances offset past them, so the
** value of element i (counted in row-major order of the tensor, whatever its
** strides) depends only on (seed, offset, i). Any split of a fill into
** pieces -- threads, CUDA blocks -- gives the same numbers as one pass, and
** a checkpoint of (seed, offset) reproduces every later draw.
**
** Words per element, which fix how far a draw advances the offset
** (ceil(n * words / 4) blocks):
**   uniform, normal   float32: 1 word (24 high bits used); float64: 2 words (53 bits)
**   bernoulli         1 word, compared with p at 2^-32 resolution
**   randint           2 words (a 64-bit multiply-shift, see sy_rng_randint)
**   randperm          2 words per Fisher-Yates swap (n - 1 swaps)
** normal pairs elements (2k, 2k+1) into one Box-Muller transform; an odd
** last element drops its partner.
**
** Generators are not locked: share one between threads only with your own
** lock. g == NULL in the fills means the process-wide default generator.
*/
#ifndef SY_RNG_H
#define SY_RNG_H

#include <stdint.h>

#include "tensor.h"

typedef struct sy_rng {
    uint64_t seed;     /* Philox key */
    uint64_t offset;   /* next unused block */
} sy_rng;

/* Seed of the default generator before any sy_rng_set_seed: fixed, so that an
** unseeded program is still repeatable. */
#define SY_RNG_DEFAULT_SEED UINT64_C(0x5EED5EED5EED5EED)

/* One Philox4x32-10 block: out = philox(ctr, key). out may alias ctr. */
void sy_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

/* The process-wide generator used by sy.rand & co. */
sy_rng *sy_rng_default(void);
/* Starts the stream of `seed` from its beginning (offset 0). */
void sy_rng_set_seed(sy_rng *g, uint64_t seed);
/* The four words of block `block` of g's stream (g is not advanced). */
void sy_rng_block(uint32_t out[4], const sy_rng *g, uint64_t block);
/* The words of blocks first .. first+n-1 of g's stream, four a block in
** block order (out holds 4n words): sy_rng_block n times, 32 blocks at a
** time on AVX-512 and sixteen on AVX2 where the CPU has them (integer
** operations: the same words every way). */
void sy_rng_blocks(uint32_t *out, const sy_rng *g, uint64_t first, int64_t n);
/* Reserves nblocks blocks for a caller that generates them itself (e.g. a
** device kernel): returns the first one and advances g past them. */
uint64_t sy_rng_reserve(sy_rng *g, uint64_t nblocks);

/* --- fills into an existing CPU tensor (any strides) --- */
/* Uniform on [lo, hi) into a float tensor; hi > lo, both finite. */
sy_status sy_rng_uniform(sy_tensor *out, sy_rng *g, double lo, double hi);
/* Normal(mean, std) into a float tensor; std >= 0. */
sy_status sy_rng_normal(sy_tensor *out, sy_rng *g, double mean, double std);
/* 1 with probability p, else 0, into a tensor of any dtype; 0 <= p <= 1. */
sy_status sy_rng_bernoulli(sy_tensor *out, sy_rng *g, double p);
/* Integers on [lo, hi) into a tensor whose dtype holds them exactly. Each
** value is lo + floor(x * (hi - lo) / 2^64) for a uniform 64-bit x: no
** rejection loop (so the stream position stays fixed), at the price of a
** bias below (hi - lo) / 2^64 per value -- under 1e-9 for ranges below 2^34. */
sy_status sy_rng_randint(sy_tensor *out, sy_rng *g, int64_t lo, int64_t hi);
/* A uniformly random permutation of 0 .. n-1 into a 1-d int64 tensor of size
** n (Fisher-Yates; each swap index drawn as in sy_rng_randint). */
sy_status sy_rng_randperm(sy_tensor *out, sy_rng *g);

#endif
