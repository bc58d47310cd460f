/*
** l_index.c -- joining, indexing, sorting and selection at the Lua face:
** sy.cat, sy.stack, index_select, gather, sort, topk, kthvalue.
**
** Dimensions and indices are 1-based here, 0-based in the core: index
** tensors coming in are copied and shifted down (after a range check that
** reports the 1-based value), index tensors going out are shifted up.
*/
#include "../autograd/autograd.h"
#include "sylua.h"

/* Collects the tensors of the table at `arg` into a block owned by a userdata
** pushed on the stack (freed by the GC if an error follows). The table is
** read raw: a tensor an __index metamethod made would be held by nothing but
** the borrowed pointer, and the collector could free it before the core
** call. */
static const sy_tensor **check_tensor_list(lua_State *L, int arg, int *n) {
    const sy_tensor **ts;
    lua_Integer i, len;
    luaL_checktype(L, arg, LUA_TTABLE);
    len = (lua_Integer)lua_rawlen(L, arg);
    if (len < 1) luaL_argerror(L, arg, "expected a non-empty table of tensors");
    if (len > 1 << 20) luaL_argerror(L, arg, "too many tensors (at most 1048576)");
    ts = lua_newuserdatauv(L, (size_t)len * sizeof *ts, 0);
    for (i = 1; i <= len; i++) {
        lua_rawgeti(L, arg, i);
        ts[i - 1] = sylua_totensor(L, -1);
        if (!ts[i - 1])
            luaL_argerror(L, arg, lua_pushfstring(L, "element %d is a %s, expected a tensor",
                                                  (int)i, sylua_typename(L, -1)));
        lua_pop(L, 1);   /* the table keeps it alive */
    }
    *n = (int)len;
    return ts;
}

/* The first tensor that is not a 1-d empty one: sy_cat counts dimensions
** from it. */
static const sy_tensor *cat_reference(const sy_tensor **ts, int n) {
    int i;
    for (i = 0; i < n; i++)
        if (!(ts[i]->ndim == 1 && ts[i]->size[0] == 0)) return ts[i];
    return ts[0];
}

/* sy.cat({a, b, ...} [, dim = 1]) */
static int l_cat(lua_State *L) {
    int n, dim;
    const sy_tensor **ts;
    lua_settop(L, 2);
    ts = check_tensor_list(L, 1, &n);
    const sy_tensor *ref = cat_reference(ts, n);
    sy_tensor **slot;
    if (ref->ndim == 0) luaL_argerror(L, 1, "cannot concatenate 0-d tensors (use stack)");
    dim = sylua_optdim(L, 2, ref, 0);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_cat(slot, (sy_tensor *const *)ts, n, dim));
    sylua_account(L, -1);
    return 1;
}

/* sy.stack({a, b, ...} [, dim = 1]); dim may be one past the last. */
static int l_stack(lua_State *L) {
    int n, dim;
    const sy_tensor **ts;
    lua_settop(L, 2);
    ts = check_tensor_list(L, 1, &n);
    sy_tensor **slot;
    dim = lua_isnoneornil(L, 2) ? 0 : sylua_checkdim(L, 2, ts[0], 1);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_stack(slot, (sy_tensor *const *)ts, n, dim));
    sylua_account(L, -1);
    return 1;
}

/* ------------------------------------------------------------ indices in */

static void index_range_error(lua_State *L, int arg, lua_Integer v, int64_t size, int dim) {
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "index %I out of range for dimension %d of size %I%s", v,
                                  dim + 1, (lua_Integer)size,
                                  v == 0 ? " (indices count from 1)" : ""));
}

/* Pushes a 0-based int64 copy of the 1-based index at `arg` (an int64 tensor,
** or with `allow_table` a Lua table of integers), checking every entry
** against `size`, the size of dimension `dim` of the indexed tensor. */
static sy_tensor *check_index(lua_State *L, int arg, int64_t size, int dim, int allow_table) {
    sy_tensor *idx = sylua_totensor(L, arg), **slot;
    int64_t *v, i, n;
    if (!idx && allow_table && lua_istable(L, arg)) {
        lua_Integer len = luaL_len(L, arg);
        int64_t shape[1];
        shape[0] = len;
        slot = sylua_newbox(L);
        sylua_check(L, sy_tensor_empty(slot, SY_I64, 1, shape));
        v = sy_tensor_data(*slot);
        for (i = 0; i < len; i++) {
            int isint;
            lua_Integer x;
            lua_geti(L, arg, i + 1);
            x = lua_tointegerx(L, -1, &isint);
            if (!isint)
                luaL_argerror(L, arg, lua_pushfstring(L, "entry %I is not an integer (got %s)",
                                                      (lua_Integer)(i + 1),
                                                      lua_type(L, -1) == LUA_TNUMBER
                                                          ? lua_tostring(L, -1)
                                                          : luaL_typename(L, -1)));
            lua_pop(L, 1);
            if (x < 1 || x > size) index_range_error(L, arg, x, size, dim);
            v[i] = x - 1;
        }
        return *slot;
    }
    if (!idx)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s",
                                              allow_table ? "int64 tensor or table of integers"
                                                          : "int64 tensor",
                                              luaL_typename(L, arg)));
    if (idx->dtype != SY_I64)
        luaL_argerror(L, arg, lua_pushfstring(L, "index tensor must be int64, got %s",
                                              sy_dtype_name(idx->dtype)));
    slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_clone(slot, idx));   /* contiguous, so one flat loop */
    v = sy_tensor_data(*slot);
    n = sy_tensor_numel(*slot);
    for (i = 0; i < n; i++) {
        if (v[i] < 1 || v[i] > size) index_range_error(L, arg, (lua_Integer)v[i], size, dim);
        v[i]--;
    }
    return *slot;
}

/* index_select(t, dim, index): index is 1-d */
static int l_index_select(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *idx, **slot;
    int dim = sylua_checkdim(L, 2, t, 0);
    sy_tensor *given = sylua_totensor(L, 3);
    if (given && given->ndim != 1) {
        char s[SY_SHAPE_STRLEN];
        luaL_argerror(L, 3, lua_pushfstring(L, "index must be 1-d, got shape %s",
                                            sy_shape_str(s, sizeof s, given->ndim, given->size)));
    }
    idx = check_index(L, 3, t->size[dim], dim, 1);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_index_select(slot, t, dim, idx));
    sylua_account(L, -1);
    return 1;
}

/* gather(t, dim, index): out[i][j] = t[index[i][j]][j] for dim 1 */
static int l_gather(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *idx, **slot;
    int dim = sylua_checkdim(L, 2, t, 0);
    idx = check_index(L, 3, t->size[dim], dim, 0);
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_gather(slot, t, dim, idx));
    sylua_account(L, -1);
    return 1;
}

/* ------------------------------------------------------ sort and select */

static int optboolean(lua_State *L, int arg, int def) {
    if (lua_isnoneornil(L, arg)) return def;
    luaL_checktype(L, arg, LUA_TBOOLEAN);
    return lua_toboolean(L, arg);
}

/* Default dim is the last; a 0-d tensor is left for the core to refuse. */
static int optlastdim(lua_State *L, int arg, const sy_tensor *t) {
    return t->ndim == 0 && lua_isnoneornil(L, arg) ? 0 : sylua_optdim(L, arg, t, t->ndim - 1);
}

/* The core's index results are fresh contiguous int64 tensors. */
static void indices_to_lua(sy_tensor *indices) {
    int64_t *v = sy_tensor_data(indices), n = sy_tensor_numel(indices), i;
    for (i = 0; i < n; i++) v[i]++;
}

/* Finishes a (values, indices) pair pushed as the top two boxes. */
static int push_pair(lua_State *L, sy_status st) {
    sylua_check(L, st);
    indices_to_lua(sylua_totensor(L, -1));
    sylua_account(L, -2);
    sylua_account(L, -1);
    return 2;
}

/* sort(t [, dim = last [, descending = false]]) -> values, indices */
static int l_sort(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), **vs, **is;
    int dim = optlastdim(L, 2, t);
    int desc = optboolean(L, 3, 0);
    vs = sylua_newbox(L);
    is = sylua_newbox(L);
    return push_pair(L, sy_ag_sort(vs, is, t, dim, desc));
}

/* topk(t, k [, dim = last [, largest = true]]) -> values, indices (sorted) */
static int l_topk(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), **vs, **is;
    lua_Integer k = luaL_checkinteger(L, 2);
    int dim = optlastdim(L, 3, t);
    int largest = optboolean(L, 4, 1);
    if (t->ndim > 0 && (k < 0 || k > t->size[dim]))
        luaL_argerror(L, 2, lua_pushfstring(L, "k = %I out of range for dimension %d of size %I "
                                               "(expected 0..%I)",
                                            k, dim + 1, (lua_Integer)t->size[dim],
                                            (lua_Integer)t->size[dim]));
    vs = sylua_newbox(L);
    is = sylua_newbox(L);
    return push_pair(L, sy_ag_topk(vs, is, t, (int64_t)k, dim, largest));
}

/* kthvalue(t, k [, dim = last [, keepdim = false]]) -> value, index */
static int l_kthvalue(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), **vs, **is;
    lua_Integer k = luaL_checkinteger(L, 2);
    int dim = optlastdim(L, 3, t);
    int keepdim = optboolean(L, 4, 0);
    if (t->ndim > 0 && (k < 1 || k > t->size[dim]))
        luaL_argerror(L, 2, lua_pushfstring(L, "k = %I out of range for dimension %d of size %I "
                                               "(expected 1..%I)",
                                            k, dim + 1, (lua_Integer)t->size[dim],
                                            (lua_Integer)t->size[dim]));
    vs = sylua_newbox(L);
    is = sylua_newbox(L);
    return push_pair(L, sy_ag_kthvalue(vs, is, t, (int64_t)k, dim, keepdim));
}

static const luaL_Reg module_funcs[] = {
    {"cat", l_cat},
    {"stack", l_stack},
    {NULL, NULL}};

static const luaL_Reg both_funcs[] = {
    {"index_select", l_index_select},
    {"gather", l_gather},
    {"sort", l_sort},
    {"topk", l_topk},
    {"kthvalue", l_kthvalue},
    {NULL, NULL}};

void sylua_open_index(lua_State *L) {
    sylua_register(L, module_funcs, SYLUA_FUNCTION);
    sylua_register(L, both_funcs, SYLUA_FUNCTION | SYLUA_METHOD);
}
