/*
** l_random.c -- random numbers and rule-made tensors at the Lua face: the
** default generator's seed and state, rand/randn/randint/randperm, the
** in-place fills uniform_/normal_/bernoulli_, and arange/linspace/eye.
*/
#include "../core/rng.h"
#include "sylua.h"

/* ------------------------------------------------------------- generator */

/* sy.manual_seed(n): restarts the default stream of seed n. */
static int l_manual_seed(lua_State *L) {
    lua_Integer seed = luaL_checkinteger(L, 1);
    sy_rng_set_seed(sy_rng_default(), (uint64_t)seed);
    return 0;
}

/* sy.seed() -> the default generator's seed. Seeds and offsets are unsigned
** 64-bit in C and travel through Lua integers by their bits. */
static int l_seed(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)sy_rng_default()->seed);
    return 1;
}

static int l_get_rng_state(lua_State *L) {
    const sy_rng *g = sy_rng_default();
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)g->seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)g->offset);
    lua_setfield(L, -2, "offset");
    return 1;
}

static uint64_t state_field(lua_State *L, const char *name) {
    int isint;
    lua_Integer v;
    lua_getfield(L, 1, name);
    v = lua_tointegerx(L, -1, &isint);
    if (lua_type(L, -1) != LUA_TNUMBER || !isint)
        luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be an integer, got %s", name,
                                            lua_type(L, -1) == LUA_TNUMBER ? "a non-integer number"
                                                                           : luaL_typename(L, -1)));
    lua_pop(L, 1);
    return (uint64_t)v;
}

/* sy.set_rng_state{seed=, offset=}: a state from get_rng_state. */
static int l_set_rng_state(lua_State *L) {
    uint64_t seed, offset;
    luaL_checktype(L, 1, LUA_TTABLE);
    seed = state_field(L, "seed");
    offset = state_field(L, "offset");
    sy_rng_default()->seed = seed;
    sy_rng_default()->offset = offset;
    return 0;
}

/* ------------------------------------------------------- random tensors */

/* Sizes from `arg` on, then an optional dtype (def if absent); nothing may
** follow. need_float rejects integer dtypes. */
static int sizes_dtype(lua_State *L, int arg, int64_t *size, sy_dtype *dt, sy_dtype def, int need_float) {
    int n = sylua_checksizes(L, arg, size);
    int next = lua_istable(L, arg) ? arg + 1 : arg + n;
    if (!lua_isnoneornil(L, next) && lua_type(L, next) != LUA_TSTRING)
        luaL_argerror(L, next, lua_pushfstring(L, "size or dtype expected, got %s", luaL_typename(L, next)));
    *dt = sylua_optdtype(L, next, def);
    if (!lua_isnone(L, next + 1))
        luaL_argerror(L, next + 1, "unexpected argument after the dtype");
    if (need_float && !sy_dtype_is_float(*dt))
        luaL_argerror(L, next, lua_pushfstring(L, "float dtype expected, got %s", sy_dtype_name(*dt)));
    return n;
}

/* sy.rand(sizes... [, dtype]): uniform on [0, 1). */
static int l_rand(lua_State *L) {
    int64_t size[SY_MAX_DIMS];
    sy_dtype dt;
    int n = sizes_dtype(L, 1, size, &dt, SY_F32, 1);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_empty(slot, dt, n, size));
    sylua_check(L, sy_rng_uniform(*slot, NULL, 0, 1));
    sylua_account(L, -1);
    return 1;
}

/* sy.randn(sizes... [, dtype]): standard normal. */
static int l_randn(lua_State *L) {
    int64_t size[SY_MAX_DIMS];
    sy_dtype dt;
    int n = sizes_dtype(L, 1, size, &dt, SY_F32, 1);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_empty(slot, dt, n, size));
    sylua_check(L, sy_rng_normal(*slot, NULL, 0, 1));
    sylua_account(L, -1);
    return 1;
}

/* sy.randint(lo, hi, sizes... [, dtype]): integers on [lo, hi), int64 by default. */
static int l_randint(lua_State *L) {
    int64_t size[SY_MAX_DIMS];
    sy_dtype dt;
    lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
    int n = sizes_dtype(L, 3, size, &dt, SY_I64, 0);
    sy_tensor **slot;
    if (hi <= lo)
        luaL_argerror(L, 2, lua_pushfstring(L, "hi must be greater than lo (got lo=%I, hi=%I)", lo, hi));
    slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_empty(slot, dt, n, size));
    sylua_check(L, sy_rng_randint(*slot, NULL, lo, hi));
    sylua_account(L, -1);
    return 1;
}

/* sy.randperm(n): a random permutation of 1..n (int64; 1-based like every
** index at the Lua face). */
static int l_randperm(lua_State *L) {
    int64_t n = luaL_checkinteger(L, 1), i, *p;
    sy_tensor **slot;
    luaL_argcheck(L, n >= 0, 1, "n must not be negative");
    slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_empty(slot, SY_I64, 1, &n));
    sylua_check(L, sy_rng_randperm(*slot, NULL));
    p = sy_tensor_data(*slot);
    for (i = 0; i < n; i++) p[i]++;
    sylua_account(L, -1);
    return 1;
}

/* t:uniform_([lo=0, hi=1]), t:normal_([mean=0, std=1]), t:bernoulli_([p=0.5]):
** fill t in place and return it. */
static int m_uniform_(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    double lo = luaL_optnumber(L, 2, 0), hi = luaL_optnumber(L, 3, 1);
    sylua_check(L, sy_rng_uniform(t, NULL, lo, hi));
    lua_settop(L, 1);
    return 1;
}

static int m_normal_(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    double mean = luaL_optnumber(L, 2, 0), std = luaL_optnumber(L, 3, 1);
    sylua_check(L, sy_rng_normal(t, NULL, mean, std));
    lua_settop(L, 1);
    return 1;
}

static int m_bernoulli_(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    double p = luaL_optnumber(L, 2, 0.5);
    sylua_check(L, sy_rng_bernoulli(t, NULL, p));
    lua_settop(L, 1);
    return 1;
}

/* ----------------------------------------------------- rule-made tensors */

/* sy.arange(end), sy.arange(start, end [, step]) [, dtype]: as torch.arange,
** values not indices (arange(3) is 0, 1, 2). int64 when every bound is a Lua
** integer, else float32. */
static int l_arange(lua_State *L) {
    double v[3];
    int n = 0, all_int = 1;
    double start = 0, end, step = 1;
    sy_dtype dt;
    sy_tensor **slot;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        all_int = all_int && lua_isinteger(L, n + 1);
        v[n] = lua_tonumber(L, n + 1);
        n++;
    }
    if (n == 0) return luaL_typeerror(L, 1, "number");
    if (!lua_isnoneornil(L, n + 1) && lua_type(L, n + 1) != LUA_TSTRING)
        luaL_argerror(L, n + 1, lua_pushfstring(L, "%s expected, got %s", n < 3 ? "number or dtype" : "dtype",
                                                luaL_typename(L, n + 1)));
    dt = sylua_optdtype(L, n + 1, all_int ? SY_I64 : SY_F32);
    if (n == 1) end = v[0];
    else {
        start = v[0];
        end = v[1];
        if (n == 3) step = v[2];
    }
    slot = sylua_newbox(L);
    sylua_check(L, sy_arange(slot, start, end, step, dt));
    sylua_account(L, -1);
    return 1;
}

/* sy.linspace(start, end, steps [, dtype]) */
static int l_linspace(lua_State *L) {
    double start = luaL_checknumber(L, 1), end = luaL_checknumber(L, 2);
    lua_Integer steps = luaL_checkinteger(L, 3);
    sy_dtype dt = sylua_optdtype(L, 4, SY_F32);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_linspace(slot, start, end, steps, dt));
    sylua_account(L, -1);
    return 1;
}

/* sy.eye(n [, m] [, dtype]) */
static int l_eye(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1), m = n;
    int dtarg = 2;
    sy_dtype dt;
    sy_tensor **slot;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        m = luaL_checkinteger(L, 2);
        dtarg = 3;
    }
    if (!lua_isnoneornil(L, dtarg) && lua_type(L, dtarg) != LUA_TSTRING)
        luaL_argerror(L, dtarg, lua_pushfstring(L, "%s expected, got %s",
                                                dtarg == 2 ? "size or dtype" : "dtype",
                                                luaL_typename(L, dtarg)));
    dt = sylua_optdtype(L, dtarg, SY_F32);
    slot = sylua_newbox(L);
    sylua_check(L, sy_eye(slot, n, m, dt));
    sylua_account(L, -1);
    return 1;
}

/* ---------------------------------------------------------- registration */

static const luaL_Reg module_funcs[] = {
    {"manual_seed", l_manual_seed}, {"seed", l_seed},         {"get_rng_state", l_get_rng_state},
    {"set_rng_state", l_set_rng_state},                       {"rand", l_rand},
    {"randn", l_randn},             {"randint", l_randint},   {"randperm", l_randperm},
    {"arange", l_arange},           {"linspace", l_linspace}, {"eye", l_eye},
    {NULL, NULL}};

static const luaL_Reg method_funcs[] = {
    {"uniform_", m_uniform_}, {"normal_", m_normal_}, {"bernoulli_", m_bernoulli_}, {NULL, NULL}};

void sylua_open_random(lua_State *L) {
    sylua_register(L, module_funcs, SYLUA_FUNCTION);
    sylua_register(L, method_funcs, SYLUA_METHOD);
}
