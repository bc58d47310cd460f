/*
** l_io.c -- sy.save and sy.load: safetensors files at the Lua face.
**
**   sy.save(path, {name = tensor, ...} [, {key = "value", ...}])
**   local tensors, metadata = sy.load(path)
**
** The save is atomic (a temporary file renamed over path) and stores a
** checksum of the data that the load verifies, so a file cut short or
** damaged is an error naming it, never tensors with wrong values. The
** checksum's metadata key ("synlua.checksum") is the format's: load leaves it
** out and save replaces a given one (src/io/safetensors.h).
*/
#include <string.h>

#include "../io/safetensors.h"
#include "sylua.h"

#define SYLUA_STFILE_MT "synlua.SafetensorsFile"

/* Scratch memory owned by a userdata on the stack, so a Lua error raised
** while it is in use cannot leak it. */
static void *scratch(lua_State *L, size_t n) { return lua_newuserdatauv(L, n ? n : 1, 0); }

/* Checks that the key at -2 is a string without NUL bytes; `what` names the
** table in messages. */
static const char *check_key(lua_State *L, int arg, const char *what) {
    size_t len;
    const char *key;
    if (lua_type(L, -2) != LUA_TSTRING) {
        const char *type = luaL_typename(L, -2);
        const char *shown = luaL_tolstring(L, -2, NULL);
        luaL_argerror(L, arg, lua_pushfstring(L, "%s key %s is a %s, expected a string", what, shown, type));
    }
    key = lua_tolstring(L, -2, &len);
    if (strlen(key) != len)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s key '%s' contains a NUL byte", what, key));
    return key;
}

/* sy.save(path, tensors [, metadata]) */
static int l_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char **names, **keys, **values;
    const sy_tensor **tensors;
    int n = 0, nmeta = 0, i = 0;
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);

    lua_pushnil(L);
    while (lua_next(L, 2)) {
        const char *name = check_key(L, 2, "tensor");
        if (!luaL_testudata(L, -1, SYLUA_TENSOR_MT))
            luaL_argerror(L, 2, lua_pushfstring(L, "value for '%s' is a %s, expected a tensor", name,
                                                luaL_typename(L, -1)));
        if (!sylua_totensor(L, -1))
            luaL_argerror(L, 2, lua_pushfstring(L, "tensor '%s' has been closed", name));
        lua_pop(L, 1);
        n++;
    }
    if (!lua_isnil(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *key = check_key(L, 3, "metadata");
            size_t len;
            const char *value;
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_argerror(L, 3, lua_pushfstring(L, "metadata value for '%s' is a %s, expected a string",
                                                    key, luaL_typename(L, -1)));
            value = lua_tolstring(L, -1, &len);
            if (strlen(value) != len)
                luaL_argerror(L, 3, lua_pushfstring(L, "metadata value for '%s' contains a NUL byte", key));
            lua_pop(L, 1);
            nmeta++;
        }
    }

    /* The strings stay alive in the argument tables for the whole call. */
    names = scratch(L, (size_t)n * sizeof *names);
    tensors = scratch(L, (size_t)n * sizeof *tensors);
    keys = scratch(L, (size_t)nmeta * sizeof *keys);
    values = scratch(L, (size_t)nmeta * sizeof *values);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        names[i] = lua_tostring(L, -2);
        tensors[i] = sylua_totensor(L, -1);
        lua_pop(L, 1);
        i++;
    }
    if (nmeta) {
        i = 0;
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            keys[i] = lua_tostring(L, -2);
            values[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
            i++;
        }
    }
    sylua_check(L, sy_safetensors_write(path, n, names, tensors, nmeta, keys, values));
    return 0;
}

static int stfile_gc(lua_State *L) {
    sy_st_file **f = luaL_checkudata(L, 1, SYLUA_STFILE_MT);
    sy_safetensors_free(*f);
    *f = NULL;
    return 0;
}

/* sy.load(path) -> {name = tensor, ...}, {key = "value", ...} */
static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    sy_st_file **f;
    int i;
    lua_settop(L, 1);
    /* The holder owns the file's contents until every tensor has been moved
    ** into a box; a memory error on the way is collected with it. */
    f = lua_newuserdatauv(L, sizeof *f, 0);
    *f = NULL;
    luaL_setmetatable(L, SYLUA_STFILE_MT);
    sylua_check(L, sy_safetensors_read(f, path));
    lua_createtable(L, 0, (*f)->n);
    for (i = 0; i < (*f)->n; i++) {
        sy_tensor **slot = sylua_newbox(L);
        *slot = (*f)->tensors[i];
        (*f)->tensors[i] = NULL;
        sylua_account(L, -1);
        lua_setfield(L, -2, (*f)->names[i]);
    }
    lua_createtable(L, 0, (*f)->nmeta);
    for (i = 0; i < (*f)->nmeta; i++) {
        lua_pushstring(L, (*f)->values[i]);
        lua_setfield(L, -2, (*f)->keys[i]);
    }
    return 2;
}

static const luaL_Reg funcs[] = {{"save", l_save}, {"load", l_load}, {NULL, NULL}};

void sylua_open_io(lua_State *L) {
    if (luaL_newmetatable(L, SYLUA_STFILE_MT)) {
        lua_pushcfunction(L, stfile_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    sylua_setfuncs(L, funcs);
}
