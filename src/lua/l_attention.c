/*
** l_attention.c -- softmax, dropout, attention and the regression losses at
** the Lua face:
**   sy.softmax(x, dim), sy.log_softmax(x, dim)      (also x:softmax(dim), x:log_softmax(dim))
**   sy.dropout(x [, p=0.5 [, training=true]])
**   sy.scaled_dot_product_attention(q, k, v [, mask [, dropout_p=0 [, training=true]]])
**                                                   -> out, weights (before dropout)
**   sy.packed_attention(qkv, num_heads [, mask [, dropout_p=0 [, training=true]]])
**                                                   -> out [B,L,E], weights: self-attention
**                                                      over qkv [B,L,3E] = q, k, v side by side
**   sy.mse_loss(input, target [, reduction]), sy.l1_loss(input, target [, reduction])
**   sy.huber_loss(input, target [, delta=1 [, reduction]])   (reduction also in delta's place)
** reduction is "mean" (default), "sum" or "none". Shapes, dtypes and values
** are checked by the core (src/autograd/attention_grad.c).
*/
#include <string.h>

#include "../autograd/attention_grad.h"
#include "sylua.h"

static sy_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : sylua_checktensor(L, idx);
}

static int opt_boolean(lua_State *L, int arg, int def) {
    if (lua_isnoneornil(L, arg)) return def;
    luaL_checktype(L, arg, LUA_TBOOLEAN);
    return lua_toboolean(L, arg);
}

static sy_loss_reduction opt_reduction(lua_State *L, int arg) {
    static const char *const names[] = {"mean", "sum", "none"};
    const char *s;
    int i;
    if (lua_isnoneornil(L, arg)) return SY_LOSS_MEAN;
    if (lua_type(L, arg) != LUA_TSTRING) luaL_typeerror(L, arg, "string");
    s = lua_tostring(L, arg);
    for (i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) return (sy_loss_reduction)i;
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "reduction must be 'mean', 'sum' or 'none', got '%s'", s));
    return SY_LOSS_MEAN;
}

static int softmax_any(lua_State *L, int log) {
    sy_tensor *x = sylua_checktensor(L, 1), **slot;
    /* a 0-d tensor takes dim 1 or -1, as PyTorch's takes 0 or -1 */
    int dim = sylua_checkdim(L, 2, x, x->ndim == 0);
    slot = sylua_newbox(L);
    sylua_check(L, log ? sy_ag_log_softmax(slot, x, dim) : sy_ag_softmax(slot, x, dim));
    sylua_account(L, -1);
    return 1;
}

static int l_softmax(lua_State *L) { return softmax_any(L, 0); }
static int l_log_softmax(lua_State *L) { return softmax_any(L, 1); }

static int l_dropout(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), **slot;
    double p = luaL_optnumber(L, 2, 0.5);
    int training = opt_boolean(L, 3, 1);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_dropout(slot, x, p, training));
    sylua_account(L, -1);
    return 1;
}

static int l_scaled_dot_product_attention(lua_State *L) {
    sy_tensor *q = sylua_checktensor(L, 1), *k = sylua_checktensor(L, 2);
    sy_tensor *v = sylua_checktensor(L, 3), *mask = opt_tensor(L, 4), **out, **weights;
    double p = luaL_optnumber(L, 5, 0);
    int training = opt_boolean(L, 6, 1);
    out = sylua_newbox(L);
    weights = sylua_newbox(L);
    sylua_check(L, sy_ag_scaled_dot_product_attention(out, weights, q, k, v, mask, p, training));
    sylua_account(L, -2);
    sylua_account(L, -1);
    return 2;
}

static int l_packed_attention(lua_State *L) {
    sy_tensor *qkv = sylua_checktensor(L, 1), *mask = opt_tensor(L, 3), **out, **weights;
    lua_Integer heads = luaL_checkinteger(L, 2);
    double p = luaL_optnumber(L, 4, 0);
    int training = opt_boolean(L, 5, 1);
    out = sylua_newbox(L);
    weights = sylua_newbox(L);
    sylua_check(L, sy_ag_packed_attention(out, weights, qkv, heads, mask, p, training));
    sylua_account(L, -2);
    sylua_account(L, -1);
    return 2;
}

static int l_mse_loss(lua_State *L) {
    sy_tensor *input = sylua_checktensor(L, 1), *target = sylua_checktensor(L, 2), **slot;
    sy_loss_reduction red = opt_reduction(L, 3);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_mse_loss(slot, input, target, red));
    sylua_account(L, -1);
    return 1;
}

static int l_l1_loss(lua_State *L) {
    sy_tensor *input = sylua_checktensor(L, 1), *target = sylua_checktensor(L, 2), **slot;
    sy_loss_reduction red = opt_reduction(L, 3);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_l1_loss(slot, input, target, red));
    sylua_account(L, -1);
    return 1;
}

static int l_huber_loss(lua_State *L) {
    sy_tensor *input = sylua_checktensor(L, 1), *target = sylua_checktensor(L, 2), **slot;
    int delta_given = lua_type(L, 3) != LUA_TSTRING;
    double delta = delta_given ? luaL_optnumber(L, 3, 1.0) : 1.0;
    sy_loss_reduction red = opt_reduction(L, delta_given ? 4 : 3);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_huber_loss(slot, input, target, delta, red));
    sylua_account(L, -1);
    return 1;
}

static const luaL_Reg funcs_and_methods[] = {
    {"softmax", l_softmax}, {"log_softmax", l_log_softmax}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"dropout", l_dropout},
    {"scaled_dot_product_attention", l_scaled_dot_product_attention},
    {"packed_attention", l_packed_attention},
    {"mse_loss", l_mse_loss},
    {"l1_loss", l_l1_loss},
    {"huber_loss", l_huber_loss},
    {NULL, NULL}};

void sylua_open_attention(lua_State *L) {
    sylua_register(L, funcs_and_methods, SYLUA_FUNCTION | SYLUA_METHOD);
    sylua_register(L, funcs, SYLUA_FUNCTION);
}
