/*
** l_math.c -- elementwise math at the Lua face: binary ops with numbers on
** either side (also as operators), in-place variants, unary ops, clamp and
** where.
*/
#include <math.h>

#include "../autograd/autograd.h"
#include "sylua.h"

/* Resolves both operands; numbers become 0-d tensors matching the other side. */
static void operands(lua_State *L, sy_tensor **a, sy_tensor **b) {
    sy_tensor *ta = sylua_totensor(L, 1), *tb = sylua_totensor(L, 2);
    if (!ta && !tb) sylua_checktensor(L, lua_type(L, 1) == LUA_TNUMBER ? 2 : 1);
    *a = sylua_checkoperand(L, 1, tb);
    *b = sylua_checkoperand(L, 2, *a);
}

static int binary(lua_State *L, sy_binop op) {
    sy_tensor *a, *b, **slot;
    lua_settop(L, 2);
    operands(L, &a, &b);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_binary(slot, op, a, b));
    sylua_account(L, -1);
    return 1;
}

static int binary_(lua_State *L, sy_binop op) {
    sy_tensor *a = sylua_checktensor(L, 1), *b;
    lua_settop(L, 2);
    b = sylua_checkoperand(L, 2, a);
    sylua_check(L, sy_ag_check_inplace(sy_binop_name(op), a));
    sylua_check(L, sy_binary_out(a, op, a, b));
    lua_settop(L, 1);
    return 1;
}

#define BINARY(name, op)                                            \
    static int lm_##name(lua_State *L) { return binary(L, op); }
#define BINARY_(name, op)                                           \
    static int lm_##name##_(lua_State *L) { return binary_(L, op); }

BINARY(add, SY_OP_ADD)
BINARY(sub, SY_OP_SUB)
BINARY(mul, SY_OP_MUL)
BINARY(div, SY_OP_DIV)
BINARY(pow, SY_OP_POW)
BINARY(maximum, SY_OP_MAXIMUM)
BINARY(minimum, SY_OP_MINIMUM)
BINARY(fmod, SY_OP_FMOD)
BINARY(eq, SY_OP_EQ)
BINARY(ne, SY_OP_NE)
BINARY(lt, SY_OP_LT)
BINARY(le, SY_OP_LE)
BINARY(gt, SY_OP_GT)
BINARY(ge, SY_OP_GE)
BINARY(logical_and, SY_OP_AND)
BINARY(logical_or, SY_OP_OR)
BINARY_(add, SY_OP_ADD)
BINARY_(sub, SY_OP_SUB)
BINARY_(mul, SY_OP_MUL)
BINARY_(div, SY_OP_DIV)
BINARY_(pow, SY_OP_POW)

static int unary(lua_State *L, sy_unop op) {
    sy_tensor *a = sylua_checktensor(L, 1);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_unary(slot, op, a));
    sylua_account(L, -1);
    return 1;
}

#define UNARY(name, op)                                             \
    static int lm_##name(lua_State *L) { return unary(L, op); }

UNARY(neg, SY_OP_NEG)
UNARY(abs, SY_OP_ABS)
UNARY(exp, SY_OP_EXP)
UNARY(log, SY_OP_LOG)
UNARY(sqrt, SY_OP_SQRT)
UNARY(rsqrt, SY_OP_RSQRT)
UNARY(tanh, SY_OP_TANH)
UNARY(sigmoid, SY_OP_SIGMOID)
UNARY(relu, SY_OP_RELU)
UNARY(sin, SY_OP_SIN)
UNARY(cos, SY_OP_COS)
UNARY(floor, SY_OP_FLOOR)
UNARY(ceil, SY_OP_CEIL)
UNARY(round, SY_OP_ROUND)
UNARY(sign, SY_OP_SIGN)
UNARY(logical_not, SY_OP_NOT)
UNARY(log1p, SY_OP_LOG1P)
UNARY(expm1, SY_OP_EXPM1)
UNARY(square, SY_OP_SQUARE)
UNARY(reciprocal, SY_OP_RECIPROCAL)
UNARY(isnan, SY_OP_ISNAN)

/* __unm receives the operand twice; only the first counts. */
static int lm_unm(lua_State *L) {
    lua_settop(L, 1);
    return unary(L, SY_OP_NEG);
}

/* clamp(t, min, max): either bound may be nil. */
static int lm_clamp(lua_State *L) {
    sy_tensor *a = sylua_checktensor(L, 1);
    double lo = luaL_optnumber(L, 2, -INFINITY), hi = luaL_optnumber(L, 3, INFINITY);
    sy_tensor **slot;
    if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3))
        return luaL_error(L, "clamp: at least one of min and max must be given");
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_clamp(slot, a, lo, hi));
    sylua_account(L, -1);
    return 1;
}

/* where(cond, a, b): a and b may be numbers. */
static int lm_where(lua_State *L) {
    sy_tensor *cond = sylua_checktensor(L, 1), *a, *b, **slot;
    sy_tensor *ta = sylua_totensor(L, 2), *tb = sylua_totensor(L, 3);
    lua_settop(L, 3);
    a = sylua_checkoperand(L, 2, tb);
    b = sylua_checkoperand(L, 3, ta ? ta : a);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_where(slot, cond, a, b));
    sylua_account(L, -1);
    return 1;
}

static const luaL_Reg both_funcs[] = {
    {"add", lm_add},
    {"sub", lm_sub},
    {"mul", lm_mul},
    {"div", lm_div},
    {"pow", lm_pow},
    {"maximum", lm_maximum},
    {"minimum", lm_minimum},
    {"fmod", lm_fmod},
    {"eq", lm_eq},
    {"ne", lm_ne},
    {"lt", lm_lt},
    {"le", lm_le},
    {"gt", lm_gt},
    {"ge", lm_ge},
    {"logical_and", lm_logical_and},
    {"logical_or", lm_logical_or},
    {"neg", lm_neg},
    {"abs", lm_abs},
    {"exp", lm_exp},
    {"log", lm_log},
    {"sqrt", lm_sqrt},
    {"rsqrt", lm_rsqrt},
    {"tanh", lm_tanh},
    {"sigmoid", lm_sigmoid},
    {"relu", lm_relu},
    {"sin", lm_sin},
    {"cos", lm_cos},
    {"floor", lm_floor},
    {"ceil", lm_ceil},
    {"round", lm_round},
    {"sign", lm_sign},
    {"logical_not", lm_logical_not},
    {"log1p", lm_log1p},
    {"expm1", lm_expm1},
    {"square", lm_square},
    {"reciprocal", lm_reciprocal},
    {"isnan", lm_isnan},
    {"clamp", lm_clamp},
    {"where", lm_where},
    {NULL, NULL}};

static const luaL_Reg inplace_funcs[] = {
    {"add_", lm_add_}, {"sub_", lm_sub_}, {"mul_", lm_mul_}, {"div_", lm_div_}, {"pow_", lm_pow_},
    {NULL, NULL}};

void sylua_open_math(lua_State *L) {
    sylua_register(L, both_funcs, SYLUA_FUNCTION | SYLUA_METHOD);
    sylua_register(L, inplace_funcs, SYLUA_METHOD);
    luaL_getmetatable(L, SYLUA_TENSOR_MT);
    sylua_pushbinding(L, lm_add);
    lua_setfield(L, -2, "__add");
    sylua_pushbinding(L, lm_sub);
    lua_setfield(L, -2, "__sub");
    sylua_pushbinding(L, lm_mul);
    lua_setfield(L, -2, "__mul");
    sylua_pushbinding(L, lm_div);
    lua_setfield(L, -2, "__div");
    sylua_pushbinding(L, lm_pow);
    lua_setfield(L, -2, "__pow");
    sylua_pushbinding(L, lm_unm);
    lua_setfield(L, -2, "__unm");
    lua_pop(L, 1);
}
