/*
** l_autograd.c -- autograd at the Lua face: requires_grad, backward, grad,
** detach, no_grad.
*/
#include <string.h>

#include "../autograd/autograd.h"
#include "sylua.h"

int sylua_autograd_property(lua_State *L) {
    const char *key = lua_tostring(L, 2);
    sy_tensor *t;
    if (strcmp(key, "grad") != 0 && strcmp(key, "grad_fn") != 0 && strcmp(key, "is_leaf") != 0)
        return 0;
    t = sylua_checktensor(L, 1);
    if (key[0] == 'i') lua_pushboolean(L, t->grad_fn == NULL);
    else if (strcmp(key, "grad_fn") == 0) {
        if (t->grad_fn) lua_pushstring(L, t->grad_fn->name);
        else lua_pushnil(L);
    } else if (t->grad) sylua_pushtensor(L, sy_tensor_retain(t->grad));
    else lua_pushnil(L);
    return 1;
}

int sylua_set_grad(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *g = NULL;
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    if (!lua_isnil(L, 3)) {
        g = sylua_checktensor(L, 3);
        if (!sy_tensor_same_shape(g, t))
            return luaL_error(L, "grad: a gradient of shape %s for a tensor of shape %s",
                              sy_shape_str(a, sizeof a, g->ndim, g->size),
                              sy_shape_str(b, sizeof b, t->ndim, t->size));
        if (g->dtype != t->dtype)
            return luaL_error(L, "grad: a %s gradient for a %s tensor", sy_dtype_name(g->dtype),
                              sy_dtype_name(t->dtype));
    }
    sylua_release(t->grad);
    t->grad = sy_tensor_retain(g);
    return 0;
}

/* t:requires_grad() -> flag; t:requires_grad(flag) -> t */
static int m_requires_grad(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    if (lua_isnone(L, 2)) {
        lua_pushboolean(L, t->requires_grad);
        return 1;
    }
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    if (t->grad_fn)
        return luaL_error(L, "requires_grad: only leaf tensors can change it (this one was "
                             "computed by %s; use detach())",
                          t->grad_fn->name);
    if (lua_toboolean(L, 2) && !sy_dtype_is_float(t->dtype))
        return luaL_error(L, "requires_grad: only float tensors can require grad, got %s",
                          sy_dtype_name(t->dtype));
    t->requires_grad = lua_toboolean(L, 2);
    lua_settop(L, 1);
    return 1;
}

/* t:backward([grad] [, retain_graph]) */
static int m_backward(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *g = NULL;
    int retain = 0;
    if (lua_isboolean(L, 2)) retain = lua_toboolean(L, 2);
    else {
        if (!lua_isnoneornil(L, 2)) g = sylua_checktensor(L, 2);
        if (!lua_isnoneornil(L, 3)) {
            luaL_checktype(L, 3, LUA_TBOOLEAN);
            retain = lua_toboolean(L, 3);
        }
    }
    sylua_check(L, sy_backward(t, g, retain));
    return 0;
}

static int m_detach(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_alias(slot, t));
    return 1;
}

/* sy.no_grad(fn, ...) / sy.enable_grad(fn, ...): runs fn with grad mode set,
** restoring it even when fn raises. */
static int with_grad_mode(lua_State *L, int enabled) {
    int prev, status, n;
    luaL_checktype(L, 1, LUA_TFUNCTION);
    prev = sy_set_grad_enabled(enabled);
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    sy_set_grad_enabled(prev);
    if (status != LUA_OK) return lua_error(L);
    n = lua_gettop(L);
    return n;
}

static int l_no_grad(lua_State *L) { return with_grad_mode(L, 0); }
static int l_enable_grad(lua_State *L) { return with_grad_mode(L, 1); }

static int l_is_grad_enabled(lua_State *L) {
    lua_pushboolean(L, sy_grad_enabled());
    return 1;
}

static int l_set_grad_enabled(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lua_pushboolean(L, sy_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}

static const luaL_Reg methods[] = {
    {"requires_grad", m_requires_grad},
    {"backward", m_backward},
    {"detach", m_detach},
    {NULL, NULL}};

/* These borrow no tensor, and no_grad/enable_grad run the caller's code:
** registered plainly (sylua.h), so a <close> inside that code frees at once. */
static const luaL_Reg funcs[] = {
    {"no_grad", l_no_grad},
    {"enable_grad", l_enable_grad},
    {"is_grad_enabled", l_is_grad_enabled},
    {"set_grad_enabled", l_set_grad_enabled},
    {NULL, NULL}};

void sylua_open_autograd(lua_State *L) {
    sylua_register(L, methods, SYLUA_METHOD);
    luaL_setfuncs(L, funcs, 0);
}
