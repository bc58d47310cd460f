/*
** l_module.c -- luaopen_synlua_core: builds the module table from the
** per-family openers and adds the process-wide knobs (threads, memory).
*/
#include "../core/alloc.h"
#include "../core/threads.h"
#include "sylua.h"
#include "synlua_version.h"

static int l_set_num_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 1024, 1, "thread count must be between 1 and 1024");
    sy_set_num_threads((int)n);
    return 0;
}

static int l_get_num_threads(lua_State *L) {
    lua_pushinteger(L, sy_get_num_threads());
    return 1;
}

/* sy.memory() -> bytes held by tensors now, peak bytes */
static int l_memory(lua_State *L) {
    lua_pushinteger(L, sy_mem_in_use());
    lua_pushinteger(L, sy_mem_peak());
    return 2;
}

/* sy.memory_reset_peak(): the next sy.memory() peak counts from the bytes
** held now (per-trial peaks in a long experiment). */
static int l_memory_reset_peak(lua_State *L) {
    luaL_argexpected(L, lua_isnone(L, 1), 1, "no value");
    sy_mem_reset_peak();
    return 0;
}

static const luaL_Reg funcs[] = {
    {"set_num_threads", l_set_num_threads},
    {"get_num_threads", l_get_num_threads},
    {"memory", l_memory},
    {"memory_reset_peak", l_memory_reset_peak},
    {NULL, NULL}};

int luaopen_synlua_core(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    lua_pushliteral(L, SYNLUA_VERSION);
    lua_setfield(L, -2, "version");
    sylua_open_tensor(L);
    sylua_open_math(L);
    sylua_open_reduce(L);
    sylua_open_linalg(L);
    sylua_open_index(L);
    sylua_open_random(L);
    sylua_open_autograd(L);
    sylua_open_io(L);
    sylua_open_data(L);
    sylua_open_optim(L);
    sylua_open_recurrent(L);
    sylua_open_layers(L);
    sylua_open_attention(L);
    sylua_open_prune(L);
    sylua_open_testing(L);
    /* Deterministic by default: one thread unless the user asks for more. */
    sy_set_num_threads(sy_get_num_threads());
    return 1;
}
