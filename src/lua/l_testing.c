/*
** l_testing.c -- private hooks for synlua's own tests; not part of the API.
**
**   sy._fail_alloc_after(n): the n-th core allocation from now fails as if
**   memory were exhausted (n >= 1); 0 disarms. Out-of-memory tests sweep n
**   over every allocation an operation makes.
*/
#include "../core/alloc.h"
#include "sylua.h"

static int l_fail_alloc_after(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "allocation count must be >= 0 (0 disarms)");
    sy_mem_fail_after((int64_t)n);
    return 0;
}

static const luaL_Reg funcs[] = {{"_fail_alloc_after", l_fail_alloc_after}, {NULL, NULL}};

void sylua_open_testing(lua_State *L) { luaL_setfuncs(L, funcs, 0); }
