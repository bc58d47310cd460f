/*
** l_linalg.c -- matrix products at the Lua face: matmul (torch.matmul
** semantics), the stricter mm, bmm, mv and dot, and the internal timers the
** benchmarks use (sy._sgemm_seconds, sy._now) and the float32 GEMM kernel's
** switch (sy._gemm_kernel).
*/
#include <time.h>

#include "../autograd/autograd.h"
#include "../ops/gemm.h"
#include "sylua.h"

static int push_matmul(lua_State *L, sy_tensor *a, sy_tensor *b) {
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_matmul(slot, a, b));
    sylua_account(L, -1);
    return 1;
}

/* The strict forms take exact ranks and never broadcast; their errors carry
** their own name rather than matmul's. */
static void check_ranks(lua_State *L, const char *name, const char *expected, const sy_tensor *a,
                        int na, const sy_tensor *b, int nb) {
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    int64_t ka, kb;
    if (a->ndim != na || b->ndim != nb)
        luaL_error(L, "%s: expected %s, got shapes %s and %s", name, expected,
                   sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                   sy_shape_str(s2, sizeof s2, b->ndim, b->size));
    if (na == 3 && a->size[0] != b->size[0])
        luaL_error(L, "%s: batch sizes of shapes %s and %s differ (%I vs %I)", name,
                   sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                   sy_shape_str(s2, sizeof s2, b->ndim, b->size), (lua_Integer)a->size[0],
                   (lua_Integer)b->size[0]);
    ka = a->size[na - 1];
    kb = b->size[nb == 1 ? 0 : nb - 2];
    if (ka != kb)
        luaL_error(L, "%s: shapes %s and %s do not match (%I vs %I)", name,
                   sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                   sy_shape_str(s2, sizeof s2, b->ndim, b->size), (lua_Integer)ka, (lua_Integer)kb);
}

/* matmul(a, b): 1-d x 1-d dot, matrix products, batched with broadcast. */
static int l_matmul(lua_State *L) {
    sy_tensor *a = sylua_checktensor(L, 1), *b = sylua_checktensor(L, 2);
    return push_matmul(L, a, b);
}

static int l_mm(lua_State *L) {
    sy_tensor *a = sylua_checktensor(L, 1), *b = sylua_checktensor(L, 2);
    check_ranks(L, "mm", "2-d matrices", a, 2, b, 2);
    return push_matmul(L, a, b);
}

static int l_bmm(lua_State *L) {
    sy_tensor *a = sylua_checktensor(L, 1), *b = sylua_checktensor(L, 2);
    check_ranks(L, "bmm", "3-d batches of matrices", a, 3, b, 3);
    return push_matmul(L, a, b);
}

static int l_mv(lua_State *L) {
    sy_tensor *a = sylua_checktensor(L, 1), *b = sylua_checktensor(L, 2);
    check_ranks(L, "mv", "a 2-d matrix and a 1-d vector", a, 2, b, 1);
    return push_matmul(L, a, b);
}

static int l_dot(lua_State *L) {
    sy_tensor *a = sylua_checktensor(L, 1), *b = sylua_checktensor(L, 2);
    check_ranks(L, "dot", "1-d tensors", a, 1, b, 1);
    return push_matmul(L, a, b);
}

/* sy._sgemm_seconds(m, n, k, reps [, kernel [, trans_a, trans_b]]):
** seconds for reps raw products [m, k] x [k, n] on the calling thread by
** kernel: "blas" (cblas_sgemm, the default) or "avx512" (synlua's own; an
** error where it is missing), the operands stored transposed when the
** booleans say so (as a layer's weight or gradient products are). */
static int l_sgemm_seconds(lua_State *L) {
    static const char *const kernels[] = {"blas", "avx512", NULL};
    lua_Integer m = luaL_checkinteger(L, 1), n = luaL_checkinteger(L, 2);
    lua_Integer k = luaL_checkinteger(L, 3), reps = luaL_checkinteger(L, 4);
    int own = luaL_checkoption(L, 5, "blas", kernels);
    int trans_a = lua_toboolean(L, 6), trans_b = lua_toboolean(L, 7);
    double seconds;
    luaL_argcheck(L, m >= 1, 1, "m must be at least 1");
    luaL_argcheck(L, n >= 1, 2, "n must be at least 1");
    luaL_argcheck(L, k >= 1, 3, "k must be at least 1");
    luaL_argcheck(L, reps >= 1, 4, "reps must be at least 1");
    sylua_check(L, sy_bench_sgemm_seconds(&seconds, m, n, k, reps, own, trans_a, trans_b));
    lua_pushnumber(L, seconds);
    return 1;
}

/* sy._gemm_kernel([name]): the float32 GEMM kernel in use, "avx512" or
** "blas" (gemm.h), after selecting name when given. */
static int l_gemm_kernel(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) {
        const char *name = luaL_checkstring(L, 1);
        if (sy_gemm_set_kernel(name) != 0)
            luaL_argerror(L, 1, lua_pushfstring(L, "expected \"blas\"%s, got \"%s\"",
                                                sy_gemm_avx512_available() ? " or \"avx512\"" : " (\"avx512\" needs AVX-512F and a GCC x86-64 build)",
                                                name));
    }
    lua_pushstring(L, sy_gemm_kernel());
    return 1;
}

/* sy._now(): monotonic wall-clock seconds. os.clock counts CPU time, which
** multi-threaded BLAS inflates. */
static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

static const luaL_Reg both_funcs[] = {
    {"matmul", l_matmul}, {"mm", l_mm}, {"bmm", l_bmm}, {"mv", l_mv}, {"dot", l_dot},
    {NULL, NULL}};

static const luaL_Reg internal_funcs[] = {
    {"_sgemm_seconds", l_sgemm_seconds}, {"_gemm_kernel", l_gemm_kernel}, {"_now", l_now},
    {NULL, NULL}};

void sylua_open_linalg(lua_State *L) {
    sylua_register(L, both_funcs, SYLUA_FUNCTION | SYLUA_METHOD);
    sylua_register(L, internal_funcs, SYLUA_FUNCTION);
}
