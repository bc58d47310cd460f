/*
** l_optim.c -- the C half of sy.optim (the Lua half is lua/synlua/optim.lua):
** whole-group optimizer steps, gradient-norm clipping and the checks the Lua
** side runs when it builds an optimizer. They live in the private table
** sy._optim; scripts use sy.optim.
**
** Optimizer state lives in Lua tables ({step = n, exp_avg = tensor, ...}, one
** per parameter), so state_dict and checkpoints are plain Lua. A step reads
** them into sy_optim_state structs, calls the core once for the whole group,
** and stores back the step counts and any state tensors the core created.
** Tables are read and written raw: no metamethod can run Lua code (and let
** the collector free a borrowed tensor) in the middle of a step.
*/
#include <stdarg.h>
#include <string.h>

#include "../optim/optim.h"
#include "sylua.h"

/* Errors are raised without a position: the caller is always
** lua/synlua/optim.lua, whose line would only mislead; the messages name
** the optimizer and the parameter instead. */
static int optim_error(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

static void check(lua_State *L, sy_status st) {
    if (st != SY_OK) optim_error(L, "%s", sy_error_message());
}

static const char *const state_keys[4] = {"momentum_buffer", "exp_avg", "exp_avg_sq",
                                          "max_exp_avg_sq"};

static sy_tensor **state_slot(sy_optim_state *s, int k) {
    switch (k) {
    case 0: return &s->momentum_buffer;
    case 1: return &s->exp_avg;
    case 2: return &s->exp_avg_sq;
    default: return &s->max_exp_avg_sq;
    }
}

static const sy_tensor *state_get(const sy_optim_state *s, int k) {
    return *state_slot((sy_optim_state *)s, k);
}

static int rawfield(lua_State *L, int idx, const char *key) {
    lua_pushstring(L, key);
    return lua_rawget(L, idx < 0 ? idx - 1 : idx);
}

static void rawsetfield(lua_State *L, int idx, const char *key) {
    lua_pushstring(L, key);
    lua_insert(L, -2);
    lua_rawset(L, idx < 0 ? idx - 1 : idx);
}

/* The tensor in field `key` of the table at idx, or NULL when absent. The
** table keeps the box alive, so the pointer stays valid while no Lua code runs. */
static sy_tensor *field_tensor(lua_State *L, int idx, const char *key, const char *fn,
                               lua_Integer i) {
    sy_tensor *t = NULL;
    if (rawfield(L, idx, key) != LUA_TNIL) {
        t = sylua_totensor(L, -1);
        if (!t)
            optim_error(L, "%s: state[%d].%s is not a (live) tensor (got %s)", fn, (int)i, key,
                        sylua_typename(L, -1));
    }
    lua_pop(L, 1);
    return t;
}

/* Borrows the state tensors of the state table at idx. */
static void read_state(lua_State *L, int idx, sy_optim_state *s, const char *fn, lua_Integer i) {
    int k;
    memset(s, 0, sizeof *s);
    if (rawfield(L, idx, "step") != LUA_TNIL) {
        int isint;
        lua_Integer step = lua_tointegerx(L, -1, &isint);
        if (!isint || step < 0)
            optim_error(L, "%s: state[%d].step must be an integer >= 0", fn, (int)i);
        s->step = step;
    }
    lua_pop(L, 1);
    for (k = 0; k < 4; k++) *state_slot(s, k) = field_tensor(L, idx, state_keys[k], fn, i);
}

/* The tensor at position i of the array at idx (NULL for nil when allowed). */
static sy_tensor *array_tensor(lua_State *L, int idx, lua_Integer i, const char *fn,
                               const char *what, int allow_nil) {
    sy_tensor *t;
    int type = lua_rawgeti(L, idx, i);
    if (allow_nil && (type == LUA_TNIL || (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)))) {
        lua_pop(L, 1);
        return NULL;
    }
    t = sylua_totensor(L, -1);
    if (!t)
        optim_error(L, "%s: %s[%d] is not a (live) tensor (got %s)", fn, what, (int)i,
                    sylua_typename(L, -1));
    lua_pop(L, 1);
    return t;
}

struct group {
    lua_Integer n;
    sy_tensor **params, **masks;
    sy_optim_state *states;
};

/* Reads params (arg 1), states (arg 2) and masks (arg 3, table or nil) into
** scratch memory owned by a userdata, so a Lua error frees it. */
static void read_group(lua_State *L, struct group *g, const char *fn) {
    lua_Integer i;
    char *mem;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    g->n = (lua_Integer)lua_rawlen(L, 1);
    if (g->n > ((lua_Integer)1 << 24))
        optim_error(L, "%s: too many parameters (%d)", fn, (int)g->n);
    if ((lua_Integer)lua_rawlen(L, 2) != g->n)
        optim_error(L, "%s: %d parameters but %d state tables", fn, (int)g->n,
                    (int)lua_rawlen(L, 2));
    mem = lua_newuserdatauv(
        L, (size_t)g->n * (2 * sizeof(sy_tensor *) + sizeof(sy_optim_state)) + 1, 0);
    g->states = (sy_optim_state *)mem;
    g->params = (sy_tensor **)(mem + (size_t)g->n * sizeof(sy_optim_state));
    g->masks = g->params + g->n;
    for (i = 1; i <= g->n; i++) {
        g->params[i - 1] = array_tensor(L, 1, i, fn, "params", 0);
        g->masks[i - 1] = lua_istable(L, 3) ? array_tensor(L, 3, i, fn, "masks", 1) : NULL;
        if (lua_rawgeti(L, 2, i) != LUA_TTABLE)
            optim_error(L, "%s: state[%d] is not a table", fn, (int)i);
        read_state(L, lua_gettop(L), &g->states[i - 1], fn, i);
        lua_pop(L, 1);
    }
}

/* Stores step counts and the tensors the core created back into the state
** tables (the core never replaces a tensor it was given). */
static void write_group(lua_State *L, const struct group *g, const sy_optim_state *before) {
    lua_Integer i;
    int k;
    for (i = 1; i <= g->n; i++) {
        sy_optim_state *s = &g->states[i - 1];
        lua_rawgeti(L, 2, i);
        lua_pushinteger(L, s->step);
        rawsetfield(L, -2, "step");
        for (k = 0; k < 4; k++) {
            sy_tensor *t = *state_slot(s, k);
            if (t && t != state_get(&before[i - 1], k)) {
                sylua_pushtensor(L, t);
                sylua_account(L, -1);
                rawsetfield(L, -2, state_keys[k]);
            }
        }
        lua_pop(L, 1);
    }
}

static int opt_boolean(lua_State *L, int arg) {
    luaL_checktype(L, arg, LUA_TBOOLEAN);
    return lua_toboolean(L, arg);
}

/* Runs step() on the group read from args 1-3 with options already read. */
#define RUN_STEP(L, FN, CALL)                                                                \
    do {                                                                                     \
        struct group g;                                                                      \
        sy_optim_state *before;                                                              \
        sy_status st;                                                                        \
        read_group(L, &g, FN);                                                               \
        before = lua_newuserdatauv(L, (size_t)g.n * sizeof *before + 1, 0);                  \
        memcpy(before, g.states, (size_t)g.n * sizeof *before);                              \
        st = CALL;                                                                           \
        write_group(L, &g, before);                                                          \
        check(L, st);                                                                        \
    } while (0)

/* sgd_step(params, states, masks, lr, momentum, dampening, weight_decay, nesterov) */
static int l_sgd_step(lua_State *L) {
    sy_sgd_options o;
    o.lr = luaL_checknumber(L, 4);
    o.momentum = luaL_checknumber(L, 5);
    o.dampening = luaL_checknumber(L, 6);
    o.weight_decay = luaL_checknumber(L, 7);
    o.nesterov = opt_boolean(L, 8);
    lua_settop(L, 3);
    RUN_STEP(L, "SGD", sy_sgd_step(g.params, g.states, g.masks, g.n, &o));
    return 0;
}

static void read_adam(lua_State *L, int arg, sy_adam_options *o) {
    o->lr = luaL_checknumber(L, arg);
    o->beta1 = luaL_checknumber(L, arg + 1);
    o->beta2 = luaL_checknumber(L, arg + 2);
    o->eps = luaL_checknumber(L, arg + 3);
    o->weight_decay = luaL_checknumber(L, arg + 4);
    o->amsgrad = opt_boolean(L, arg + 5);
    o->decoupled = opt_boolean(L, arg + 6);
}

/* adam_step(params, states, masks, lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled) */
static int l_adam_step(lua_State *L) {
    sy_adam_options o;
    read_adam(L, 4, &o);
    lua_settop(L, 3);
    RUN_STEP(L, o.decoupled ? "AdamW" : "Adam", sy_adam_step(g.params, g.states, g.masks, g.n, &o));
    return 0;
}

/* check_sgd(lr, momentum, dampening, weight_decay, nesterov) */
static int l_check_sgd(lua_State *L) {
    sy_sgd_options o;
    o.lr = luaL_checknumber(L, 1);
    o.momentum = luaL_checknumber(L, 2);
    o.dampening = luaL_checknumber(L, 3);
    o.weight_decay = luaL_checknumber(L, 4);
    o.nesterov = opt_boolean(L, 5);
    check(L, sy_sgd_check_options(&o));
    return 0;
}

/* check_adam(lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled) */
static int l_check_adam(lua_State *L) {
    sy_adam_options o;
    read_adam(L, 1, &o);
    check(L, sy_adam_check_options(&o));
    return 0;
}

/* check_param(who, param [, state [, mask]]): who starts the message. */
static int l_check_param(lua_State *L) {
    const char *who = luaL_checkstring(L, 1);
    sy_tensor *p = sylua_checktensor(L, 2), *mask = NULL;
    sy_optim_state s;
    int has_state = !lua_isnoneornil(L, 3);
    if (has_state) {
        luaL_checktype(L, 3, LUA_TTABLE);
        read_state(L, 3, &s, who, 0);
    }
    if (!lua_isnoneornil(L, 4)) mask = sylua_checktensor(L, 4);
    check(L, sy_optim_check_param(who, p, has_state ? &s : NULL, mask));
    return 0;
}

/* tensor_span(t) -> storage key, first element, element count: the memory a
** contiguous tensor covers, so the Lua side can refuse parameters that
** overlap (the same tensor twice, or two views of it). */
static int l_tensor_span(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    lua_pushlightuserdata(L, t->storage);
    lua_pushinteger(L, t->offset);
    lua_pushinteger(L, sy_tensor_numel(t));
    return 3;
}

/* clip_grad_norm(grads, max_norm, norm_type) -> total norm */
static int l_clip_grad_norm(lua_State *L) {
    lua_Integer n, i;
    sy_tensor **grads;
    double total;
    double max_norm = luaL_checknumber(L, 2), norm_type = luaL_checknumber(L, 3);
    luaL_checktype(L, 1, LUA_TTABLE);
    n = (lua_Integer)lua_rawlen(L, 1);
    grads = lua_newuserdatauv(L, (size_t)n * sizeof *grads + 1, 0);
    for (i = 1; i <= n; i++) grads[i - 1] = array_tensor(L, 1, i, "clip_grad_norm", "grads", 0);
    check(L, sy_clip_grad_norm(&total, grads, n, max_norm, norm_type));
    lua_pushnumber(L, total);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"sgd_step", l_sgd_step},
    {"adam_step", l_adam_step},
    {"check_sgd", l_check_sgd},
    {"check_adam", l_check_adam},
    {"check_param", l_check_param},
    {"tensor_span", l_tensor_span},
    {"clip_grad_norm", l_clip_grad_norm},
    {NULL, NULL}};

void sylua_open_optim(lua_State *L) {
    lua_newtable(L);
    sylua_setfuncs(L, funcs);
    lua_setfield(L, -2, "_optim");
}
