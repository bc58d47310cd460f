/*
** embed.c -- a C program that embeds synlua: its own lua_State, the module
** opened with luaL_requiref, then the chunk given as argv[1] (or a default
** that checks a small computation). Built by tests/install.sh against an
** installed prefix with `pkg-config --cflags --libs synlua`.
*/
#include <stdio.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/sylua.h"

static const char default_chunk[] =
    "local sy = require('synlua.core')\n"
    "local t = sy.tensor({{1, 2}, {3, 4}})\n"
    "assert(t:numel() == 4 and t:totable()[2][1] == 3)\n"
    "print('embedded synlua ' .. sy.version)\n";

int main(int argc, char **argv) {
    const char *chunk = argc > 1 ? argv[1] : default_chunk;
    lua_State *L = luaL_newstate();
    int status;
    if (L == NULL) {
        fputs("embed: cannot create the Lua state\n", stderr);
        return 1;
    }
    luaL_openlibs(L);
    luaL_requiref(L, "synlua.core", luaopen_synlua_core, 0);
    lua_pop(L, 1);
    status = luaL_dostring(L, chunk);
    if (status != LUA_OK) fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
