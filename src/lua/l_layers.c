/*
** l_layers.c -- the feed-forward layers' functional forms at the Lua face:
**   sy.linear(x, w [, b])                  x [..., in], w [out, in], b [out] -> [..., out]
**   sy.layer_norm(x [, w, b [, eps]])      over the last dim; eps 1e-5
**   sy.batch_norm(x, running_mean, running_var [, w, b [, training [, momentum [, eps]]]])
**                                          x [N, C] or [N, C, L]; training false,
**                                          momentum 0.1, eps 1e-5
**   sy.embedding(ids, w)                   ids int64, counting from 1 -> [..., D]
**   sy.gelu(x [, approximate])             "none" (erf) or "tanh"
** Optional tensors are nil when absent. Shapes and dtypes are checked by the
** core (src/autograd/layers_grad.c).
*/
#include "../autograd/layers_grad.h"
#include "sylua.h"

static sy_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : sylua_checktensor(L, idx);
}

static int opt_boolean(lua_State *L, int arg, int def) {
    if (lua_isnoneornil(L, arg)) return def;
    luaL_checktype(L, arg, LUA_TBOOLEAN);
    return lua_toboolean(L, arg);
}

static int l_linear(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), *w = sylua_checktensor(L, 2), *b = opt_tensor(L, 3);
    sy_tensor **y = sylua_newbox(L);
    sylua_check(L, sy_ag_linear(y, x, w, b));
    sylua_account(L, -1);
    return 1;
}

static int l_layer_norm(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), *w = opt_tensor(L, 2), *b = opt_tensor(L, 3);
    double eps = luaL_optnumber(L, 4, 1e-5);
    sy_tensor **y = sylua_newbox(L);
    sylua_check(L, sy_ag_layer_norm(y, x, w, b, eps));
    sylua_account(L, -1);
    return 1;
}

static int l_batch_norm(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), *rm = opt_tensor(L, 2), *rv = opt_tensor(L, 3);
    sy_tensor *w = opt_tensor(L, 4), *b = opt_tensor(L, 5);
    int training = opt_boolean(L, 6, 0);
    double momentum = luaL_optnumber(L, 7, 0.1), eps = luaL_optnumber(L, 8, 1e-5);
    sy_tensor **y = sylua_newbox(L);
    sylua_check(L, sy_ag_batch_norm(y, x, rm, rv, w, b, training, momentum, eps));
    sylua_account(L, -1);
    return 1;
}

static int l_embedding(lua_State *L) {
    sy_tensor *ids = sylua_checktensor(L, 1), *w = sylua_checktensor(L, 2);
    sy_tensor **out = sylua_newbox(L);
    sylua_check(L, sy_ag_embedding(out, ids, w, 1));
    sylua_account(L, -1);
    return 1;
}

static int l_gelu(lua_State *L) {
    static const char *const approx[] = {"none", "tanh", NULL};
    static const sy_gelu_approx value[] = {SY_GELU_NONE, SY_GELU_TANH};
    sy_tensor *x = sylua_checktensor(L, 1);
    int k = luaL_checkoption(L, 2, "none", approx);
    sy_tensor **y = sylua_newbox(L);
    sylua_check(L, sy_ag_gelu(y, x, value[k]));
    sylua_account(L, -1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"linear", l_linear},       {"layer_norm", l_layer_norm}, {"batch_norm", l_batch_norm},
    {"embedding", l_embedding}, {"gelu", l_gelu},             {NULL, NULL}};

void sylua_open_layers(lua_State *L) { sylua_register(L, funcs, SYLUA_FUNCTION); }
