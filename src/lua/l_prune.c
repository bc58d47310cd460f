/*
** l_prune.c -- the C half of sy.prune (the Lua half is lua/synlua/prune.lua):
** one pruning update over a whole set of weights, applying masks and
** counting pruned entries. They live in the private table sy._prune; scripts
** use sy.prune.
**
** Arrays are read raw into scratch memory owned by a userdata, so no
** metamethod runs in the middle of a call and a Lua error frees everything.
*/
#include "../prune/prune.h"
#include "sylua.h"

/* Errors are raised without a position: the caller is lua/synlua/prune.lua,
** whose line would only mislead; the messages name the weight instead. */
static void check(lua_State *L, sy_status st) {
    if (st != SY_OK) {
        lua_pushstring(L, sy_error_message());
        lua_error(L);
    }
}

/* The tensors of the array at arg, into scratch memory; *n gets the count,
** which must equal `want` unless want < 0. */
static sy_tensor **read_tensors(lua_State *L, int arg, const char *what, int64_t *n, int64_t want) {
    sy_tensor **out;
    int64_t i;
    luaL_checktype(L, arg, LUA_TTABLE);
    *n = (int64_t)lua_rawlen(L, arg);
    if (want >= 0 && *n != want)
        luaL_error(L, "prune: %d weights but %d %s", (int)want, (int)*n, what);
    if (*n > ((int64_t)1 << 24)) luaL_error(L, "prune: too many %s (%d)", what, (int)*n);
    out = lua_newuserdatauv(L, (size_t)*n * sizeof *out + 1, 0);
    for (i = 0; i < *n; i++) {
        lua_rawgeti(L, arg, (lua_Integer)i + 1);
        out[i] = sylua_totensor(L, -1);
        if (!out[i])
            luaL_error(L, "prune: %s[%d] is not a (live) tensor (got %s)", what, (int)i + 1,
                       sylua_typename(L, -1));
        lua_pop(L, 1);
    }
    return out;
}

/* update(weights, masks, target, compat, layer [, names]) -> pruned, k,
** threshold (nil when no selection ran), total, active */
static int l_update(lua_State *L) {
    int64_t n, nm, i;
    sy_tensor **weights, **masks;
    const char **names = NULL;
    double target = luaL_checknumber(L, 3);
    sy_prune_mode mode;
    sy_prune_scope scope;
    sy_prune_result r;
    luaL_checktype(L, 4, LUA_TBOOLEAN);
    luaL_checktype(L, 5, LUA_TBOOLEAN);
    mode = lua_toboolean(L, 4) ? SY_PRUNE_COMPAT : SY_PRUNE_EXACT;
    scope = lua_toboolean(L, 5) ? SY_PRUNE_LAYER : SY_PRUNE_GLOBAL;
    lua_settop(L, 6);
    weights = read_tensors(L, 1, "weights", &n, -1);
    masks = read_tensors(L, 2, "masks", &nm, n);
    if (!lua_isnil(L, 6)) {
        luaL_checktype(L, 6, LUA_TTABLE);
        if ((int64_t)lua_rawlen(L, 6) != n) luaL_error(L, "prune: %d weights but %d names", (int)n,
                                                       (int)lua_rawlen(L, 6));
        names = lua_newuserdatauv(L, (size_t)n * sizeof *names + 1, 0);
        /* the strings stay alive in the names table for the whole call */
        for (i = 0; i < n; i++) {
            lua_rawgeti(L, 6, (lua_Integer)i + 1);
            if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "prune: names[%d] is not a string", (int)i + 1);
            names[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    check(L, sy_prune_update(&r, weights, masks, n, target, mode, scope, names));
    lua_pushinteger(L, r.pruned);
    lua_pushinteger(L, r.k);
    if (r.threshold == r.threshold) lua_pushnumber(L, r.threshold);
    else lua_pushnil(L);
    lua_pushinteger(L, r.total);
    lua_pushinteger(L, r.active);
    return 5;
}

/* apply(weights, masks): weights = 0 wherever their mask is 0 */
static int l_apply(lua_State *L) {
    int64_t n, nm;
    sy_tensor **weights, **masks;
    lua_settop(L, 2);
    weights = read_tensors(L, 1, "weights", &n, -1);
    masks = read_tensors(L, 2, "masks", &nm, n);
    check(L, sy_mask_apply(weights, masks, n));
    return 0;
}

/* count(masks) -> { pruned entries of each mask } */
static int l_count(lua_State *L) {
    int64_t n, i, *zeros;
    sy_tensor **masks;
    lua_settop(L, 1);
    masks = read_tensors(L, 1, "masks", &n, -1);
    zeros = lua_newuserdatauv(L, (size_t)n * sizeof *zeros + 1, 0);
    check(L, sy_mask_count(zeros, masks, n));
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushinteger(L, zeros[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const luaL_Reg funcs[] = {
    {"update", l_update}, {"apply", l_apply}, {"count", l_count}, {NULL, NULL}};

void sylua_open_prune(lua_State *L) {
    lua_newtable(L);
    sylua_setfuncs(L, funcs);
    lua_setfield(L, -2, "_prune");
}
