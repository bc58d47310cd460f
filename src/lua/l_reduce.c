/*
** l_reduce.c -- reductions at the Lua face, as functions (sy.sum(t, dim,
** keepdim)) and methods (t:sum(dim, keepdim)). Without a dim the result is a
** 0-d tensor (call :item() for the number); max/min with a dim return values
** and indices. Positions are 1-based int64 here, 0-based in the core.
** Results take part in autograd (sy_ag_reduce) like every other op.
*/
#include "../autograd/autograd.h"
#include "sylua.h"

static int optboolean(lua_State *L, int arg, int def) {
    if (lua_isnoneornil(L, arg)) return def;
    luaL_argexpected(L, lua_isboolean(L, arg), arg, "boolean");
    return lua_toboolean(L, arg);
}

/* Core positions count from 0, Lua's from 1. The 1-based ones are a new
** tensor: autograd keeps the 0-based indices of max/min for the backward. */
static void push_one_based(lua_State *L, const sy_tensor *positions) {
    sy_tensor *one, **slot = sylua_newbox(L);
    sy_status st;
    sylua_check(L, sy_scalar(&one, SY_I64, 1));
    st = sy_binary(slot, SY_OP_ADD, positions, one);
    sy_tensor_release(one);
    sylua_check(L, st);
    sylua_account(L, -1);
}

/* f(t [, dim [, keepdim [, unbiased]]]); unbiased only for var and std. */
static int reduce(lua_State *L, sy_redop op) {
    sy_tensor *t = sylua_checktensor(L, 1), **slot, **islot = NULL;
    int dim, keepdim, correction = 0;
    int pairs = op == SY_RED_MAX || op == SY_RED_MIN;
    if (pairs && sylua_totensor(L, 2))
        return luaL_argerror(L, 2, op == SY_RED_MAX
                                       ? "dimension expected, got tensor (use maximum(a, b) for the "
                                         "elementwise maximum)"
                                       : "dimension expected, got tensor (use minimum(a, b) for the "
                                         "elementwise minimum)");
    dim = sylua_optdim(L, 2, t, SY_ALL_DIMS);
    keepdim = optboolean(L, 3, 0);
    if (op == SY_RED_VAR || op == SY_RED_STD) correction = optboolean(L, 4, 1);
    slot = sylua_newbox(L);
    if (pairs && dim != SY_ALL_DIMS) islot = sylua_newbox(L);
    sylua_check(L, sy_ag_reduce(slot, islot, op, t, dim, keepdim, correction));
    sylua_account(L, -1);
    if (islot) {
        sylua_account(L, -2);
        push_one_based(L, *islot);   /* values, 0-based, 1-based */
        lua_remove(L, -2);
        return 2;
    }
    if (op == SY_RED_ARGMAX || op == SY_RED_ARGMIN) push_one_based(L, *slot);
    return 1;
}

#define REDUCE(name, op)                                            \
    static int lr_##name(lua_State *L) { return reduce(L, op); }

REDUCE(sum, SY_RED_SUM)
REDUCE(mean, SY_RED_MEAN)
REDUCE(prod, SY_RED_PROD)
REDUCE(max, SY_RED_MAX)
REDUCE(min, SY_RED_MIN)
REDUCE(argmax, SY_RED_ARGMAX)
REDUCE(argmin, SY_RED_ARGMIN)
REDUCE(var, SY_RED_VAR)
REDUCE(std, SY_RED_STD)

static const luaL_Reg both_funcs[] = {
    {"sum", lr_sum},       {"mean", lr_mean},     {"prod", lr_prod},
    {"max", lr_max},       {"min", lr_min},       {"argmax", lr_argmax},
    {"argmin", lr_argmin}, {"var", lr_var},       {"std", lr_std},
    {NULL, NULL}};

void sylua_open_reduce(lua_State *L) { sylua_register(L, both_funcs, SYLUA_FUNCTION | SYLUA_METHOD); }
