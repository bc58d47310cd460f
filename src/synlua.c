/* synlua.c -- the interpreter (being written) */
#include <lauxlib.h>
#include <lualib.h>
#include "lua/sylua.h"
int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    int st;
    luaL_openlibs(L);
    luaL_requiref(L, "synlua.core", luaopen_synlua_core, 0);
    lua_pop(L, 1);
    st = argc > 2 ? luaL_dostring(L, argv[2]) : 0;
    if (st) fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return st;
}
