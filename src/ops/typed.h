/*
** typed.h -- compiles a kernel body for float and for double.
**
** A kernel file written over SY_REAL / SY_FN(name) / SY_GEMM / SY_GEMM_BIAS
** includes itself through this header:
**
**   #ifndef SY_REAL
**   ...
**   #define SY_TYPED_BODY "lstm.c"
**   #include "typed.h"
**   ... public functions using SY_DISPATCH(dt, fn, ...) and sy_data_or_null(t)
**   #else
**   ... the typed body
**   #endif
*/
#include "gemm.h"

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_GEMM sy_gemm_f32
#define SY_GEMM_BIAS sy_gemm_bias_f32
#include SY_TYPED_BODY
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_GEMM_BIAS

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_GEMM sy_gemm_f64
#define SY_GEMM_BIAS sy_gemm_bias_f64
#include SY_TYPED_BODY
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_GEMM_BIAS
#undef SY_TYPED_BODY

#ifndef SY_TYPED_H
#define SY_TYPED_H
/* Calls fn_f32 or fn_f64 by dtype (float32 or float64 only). */
#define SY_DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static inline void *sy_data_or_null(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }
#endif
