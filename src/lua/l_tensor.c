/*
** l_tensor.c -- the tensor userdata: boxes, argument checks, creation,
** indexing, views, copies, conversion to Lua tables and printing.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../autograd/autograd.h"
#include "sylua.h"

/* ------------------------------------------------------------------ boxes */

sy_tensor *sylua_totensor(lua_State *L, int idx) {
    sylua_box *b = luaL_testudata(L, idx, SYLUA_TENSOR_MT);
    return b ? b->t : NULL;
}

const char *sylua_typename(lua_State *L, int idx) {
    sylua_box *b = luaL_testudata(L, idx, SYLUA_TENSOR_MT);
    return b && !b->t ? "closed tensor" : luaL_typename(L, idx);
}

sy_tensor *sylua_checktensor(lua_State *L, int idx) {
    sylua_box *b = luaL_testudata(L, idx, SYLUA_TENSOR_MT);
    if (!b) {
        const char *msg = lua_pushfstring(L, "tensor expected, got %s", luaL_typename(L, idx));
        luaL_argerror(L, idx, msg);
    }
    if (!b->t) luaL_argerror(L, idx, "tensor has been closed");
    return b->t;
}

sy_tensor **sylua_newbox(lua_State *L) {
    sylua_box *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->t = NULL;
    b->kept = NULL;
    luaL_setmetatable(L, SYLUA_TENSOR_MT);
    return &b->t;
}

void sylua_pushtensor(lua_State *L, sy_tensor *t) {
    sy_tensor **slot = sylua_newbox(L);
    *slot = t;
}

void sylua_check(lua_State *L, sy_status st) {
    if (st != SY_OK) luaL_error(L, "%s", sy_error_message());
}

/* Core memory lives outside Lua's allocator, so the collector cannot see
** it. After each call that made tensors, the core's memory growth since the
** previous call is reported as an incremental step, scaled so that a whole
** collection cycle (whose work is the Lua heap's size) comes about every
** quarter of the tensor memory in use: dead tensors then hold about a
** quarter more memory than the live ones.
**
** The growth is the memory in use now, less that after the previous call,
** plus what Lua released since (sylua_release: boxes collected or closed,
** gradients dropped), so that a release does not hide the next result.
** Growth and not bytes allocated: only memory a Lua value holds needs the
** collector, and what the core allocates and frees by itself (a backward
** pass's gradients and temporaries, half of a training step's bytes) does
** not. Counting every allocated byte ran twice the collection cycles for the
** same bound: a 2-block encoder step (bench/layers.lua) allocates ~20 MB, ~8
** cycles of a ~200 KB heap, and liblua was ~7% of its time (perf); counting
** growth cut liblua's instructions by a quarter (callgrind, 35 steps: 75.2 ->
** 57.5 M, the same tensor peak). Unscaled, the step
** was the new tensor bytes themselves: dozens of cycles a step -- 18% of a
** PatchTST training run's time (scripts/patchtst_sp500.lua, 2 epochs: 1.4 s
** of 7.8 s in the collector; 0.57 s scaled, same peak RSS).
**
** Since a generational collector ignores that debt for objects with
** finalizers, a full collection also runs whenever the growth since the
** last one exceeds max(64 MB, bytes live after it). */
#define GC_CYCLES_PER_IN_USE 4
static int64_t accounted_in_use, released_since, bytes_since_collect;
static int64_t collect_threshold = (int64_t)64 << 20;
static double step_debt;   /* scaled bytes not yet reported as a step */

void sylua_release(sy_tensor *t) {
    const int64_t before = sy_mem_in_use();
    sy_tensor_release(t);
    released_since += before - sy_mem_in_use();
}

/* The baseline after a call or a collection step: what its finalizers
** released is in the memory in use already. */
static void account_from_now(void) {
    accounted_in_use = sy_mem_in_use();
    released_since = 0;
}

void sylua_account(lua_State *L, int idx) {
    const int64_t in_use = sy_mem_in_use(), fresh = in_use + released_since - accounted_in_use;
    (void)idx;
    if (fresh < 1024) {
        if (fresh < 0) account_from_now();   /* the core freed more: count from here */
        return;
    }
    account_from_now();
    bytes_since_collect += fresh;
    if (bytes_since_collect > collect_threshold) {
        lua_gc(L, LUA_GCCOLLECT);
        account_from_now();
        bytes_since_collect = 0;
        collect_threshold = accounted_in_use > ((int64_t)64 << 20) ? accounted_in_use : (int64_t)64 << 20;
    } else {
        /* the scaled bytes accumulate: many small tensors add up to steps */
        const double heap = (double)lua_gc(L, LUA_GCCOUNT) * 1024 + 1024;
        const double scale = GC_CYCLES_PER_IN_USE * heap / (double)in_use;
        int64_t kb;
        step_debt += (double)fresh * (scale < 1 ? scale : 1);
        kb = (int64_t)(step_debt / 1024);
        if (kb > 0) {
            step_debt -= (double)kb * 1024;
            lua_gc(L, LUA_GCSTEP, (int)(kb > (1 << 20) ? (1 << 20) : kb));
            account_from_now();
        }
    }
}

static int tensor_gc(lua_State *L) {
    sylua_box *b = luaL_checkudata(L, 1, SYLUA_TENSOR_MT);
    sylua_release(b->t);
    sylua_release(b->kept);
    b->t = b->kept = NULL;
    return 0;
}

/* ---------------------------------------------------------- binding calls */

/* A binding borrows tensor pointers from its arguments (and from tables it
** reads), and Lua code can run before it is done with them: a finalizer in a
** GC step that one of its allocations triggers, or a metamethod of a table it
** reads. If that code closes one of those tensors (__close, a <close>
** variable) and the close freed it at once, the binding would go on with a
** dangling pointer. So tensor_close frees at once only when no binding call
** is in progress; otherwise the box is marked closed and keeps its reference
** for __gc (the box is an argument of the call or in a table it reads, so it
** outlives the call).
**
** A call in progress is a frame of a registered binding (the set below) on
** the stack of the thread that made it, and the Lua code it runs is nested
** above that frame on the same thread, unless that code resumes a coroutine.
** A suspended coroutine holds no binding frame (bindings never yield). So on
** the main thread its own stack tells exactly; in a coroutine resumed
** directly from the main thread, the two stacks do; in any other coroutine
** the threads in between cannot be seen, and the release is left to the
** collector.
**
** The cost is on close only: a walk of the stack (callgrind: about 2,700
** instructions at a depth of 10 frames, 19,000 at 55; quadratic through
** lua_getstack, so it stops at WALK_MAX frames and defers). Not chosen:
** wrapping every binding in a C closure that counts calls in progress (tried:
** the closures are objects every collection cycle marks, +3.7% instructions
** per sy.matmul at n=64 under the accounting-paced collector, +8.5% per
** t:dim()), and pinning borrowed tensors (a retain per argument and a release
** on return, which an error skips: a leak). */

typedef struct sylua_bindings {
    size_t n, cap;
    uintptr_t *keys;   /* the functions' bit patterns, sorted */
} sylua_bindings;

_Static_assert(sizeof(lua_CFunction) <= sizeof(uintptr_t), "function pointers fit uintptr_t");

static uintptr_t function_key(lua_CFunction f) {
    uintptr_t k = 0;
    memcpy(&k, &f, sizeof f);
    return k;
}

static const char bindings_key = 0;

static int bindings_gc(lua_State *L) {
    sylua_bindings *set = lua_touserdata(L, 1);
    free(set->keys);
    set->keys = NULL;
    set->n = set->cap = 0;
    return 0;
}

/* The state's set, made on first use and kept in the registry. */
static sylua_bindings *state_bindings(lua_State *L) {
    sylua_bindings *set;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &bindings_key) == LUA_TUSERDATA) {
        set = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return set;
    }
    lua_pop(L, 1);
    set = lua_newuserdatauv(L, sizeof *set, 0);
    memset(set, 0, sizeof *set);
    lua_newtable(L);
    lua_pushcfunction(L, bindings_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &bindings_key);
    return set;
}

static void add_binding(lua_State *L, lua_CFunction f) {
    sylua_bindings *set = state_bindings(L);
    uintptr_t k = function_key(f);
    size_t i = set->n;
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 256;
        uintptr_t *keys = realloc(set->keys, cap * sizeof *keys);
        if (!keys) luaL_error(L, "not enough memory");
        set->keys = keys;
        set->cap = cap;
    }
    while (i > 0 && set->keys[i - 1] > k) i--;
    if (i > 0 && set->keys[i - 1] == k) return;
    memmove(set->keys + i + 1, set->keys + i, (set->n - i) * sizeof *set->keys);
    set->keys[i] = k;
    set->n++;
}

static int is_binding(const sylua_bindings *set, lua_CFunction f) {
    uintptr_t k = function_key(f);
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->keys[mid] == k) return 1;
        if (set->keys[mid] < k) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

void sylua_pushbinding(lua_State *L, lua_CFunction f) {
    add_binding(L, f);
    lua_pushcfunction(L, f);
}

void sylua_setfuncs(lua_State *L, const luaL_Reg *funcs) {
    for (; funcs->name; funcs++) {
        sylua_pushbinding(L, funcs->func);
        lua_setfield(L, -2, funcs->name);
    }
}

#define WALK_MAX 200

/* 1 when a binding frame is on T's stack, or T is too deep to tell. Values
** are pushed on T (the functions of its frames) and popped again. */
static int binding_on_stack(lua_State *T, const sylua_bindings *set) {
    lua_Debug ar;
    int level;
    if (!lua_checkstack(T, 1)) return 1;
    for (level = 0; lua_getstack(T, level, &ar); level++) {
        lua_CFunction f;
        if (level == WALK_MAX) return 1;
        lua_getinfo(T, "f", &ar);
        f = lua_tocfunction(T, -1);
        lua_pop(T, 1);
        if (f && is_binding(set, f)) return 1;
    }
    return 0;
}

/* 1 when the main thread's top frame is the call that resumed L: the thread
** is the first argument of coroutine.resume, the first upvalue of a
** coroutine.wrap function. */
static int resumed_by(lua_State *main, lua_State *L) {
    lua_Debug ar;
    int found = 0;
    if (!lua_getstack(main, 0, &ar) || !lua_checkstack(main, 2)) return 0;
    if (lua_getlocal(main, &ar, 1)) {
        found = lua_tothread(main, -1) == L;
        lua_pop(main, 1);
    }
    if (!found) {
        lua_getinfo(main, "f", &ar);
        if (lua_getupvalue(main, -1, 1)) {
            found = lua_tothread(main, -1) == L;
            lua_pop(main, 1);
        }
        lua_pop(main, 1);
    }
    return found;
}

/* 1 when a binding call may be in progress in L's state (see above). */
static int binding_in_progress(lua_State *L) {
    const sylua_bindings *set = state_bindings(L);
    lua_State *main;
    int on_main = lua_pushthread(L);
    lua_pop(L, 1);
    if (binding_on_stack(L, set)) return 1;
    if (on_main) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    main = lua_tothread(L, -1);
    lua_pop(L, 1);   /* the registry keeps it */
    return !resumed_by(main, L) || binding_on_stack(main, set);
}

static int tensor_close(lua_State *L) {
    sylua_box *b = luaL_checkudata(L, 1, SYLUA_TENSOR_MT);
    if (!b->t) return 0;   /* closing twice does nothing */
    if (binding_in_progress(L)) b->kept = b->t;
    else sylua_release(b->t);
    b->t = NULL;
    return 0;
}

/* ------------------------------------------------------- argument helpers */

int sylua_checkdim(lua_State *L, int arg, const sy_tensor *t, int extra) {
    lua_Integer d = luaL_checkinteger(L, arg);
    int n = t->ndim + (extra ? 1 : 0);
    if (d < 0) d += n + 1;
    if (d < 1 || d > n) {
        if (n == 0)
            luaL_argerror(L, arg, lua_pushfstring(L, "dimension out of range (tensor has 0 dimensions)"));
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "dimension %I out of range (expected 1..%d or -%d..-1)",
                                      luaL_checkinteger(L, arg), n, n));
    }
    return (int)d - 1;
}

int sylua_optdim(lua_State *L, int arg, const sy_tensor *t, int def) {
    return lua_isnoneornil(L, arg) ? def : sylua_checkdim(L, arg, t, 0);
}

int sylua_checksizes(lua_State *L, int arg, int64_t *size) {
    int n = 0, i, top = lua_gettop(L);
    if (lua_istable(L, arg)) {
        n = (int)luaL_len(L, arg);
        if (n > SY_MAX_DIMS)
            luaL_argerror(L, arg, lua_pushfstring(L, "at most %d dimensions supported", SY_MAX_DIMS));
        for (i = 0; i < n; i++) {
            lua_geti(L, arg, i + 1);
            if (!lua_isinteger(L, -1))
                luaL_argerror(L, arg, lua_pushfstring(L, "size %d is not an integer (got %s)", i + 1,
                                                      luaL_typename(L, -1)));
            size[i] = lua_tointeger(L, -1);
            lua_pop(L, 1);
            if (size[i] < 0)
                luaL_argerror(L, arg, lua_pushfstring(L, "size %d is negative", i + 1));
        }
        return n;
    }
    for (i = arg; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
        if (n == SY_MAX_DIMS)
            luaL_argerror(L, i, lua_pushfstring(L, "at most %d dimensions supported", SY_MAX_DIMS));
        size[n] = luaL_checkinteger(L, i);
        if (size[n] < 0) luaL_argerror(L, i, "size must not be negative");
        n++;
    }
    return n;
}

sy_dtype sylua_checkdtype(lua_State *L, int arg) {
    sy_dtype dt;
    const char *name = luaL_checkstring(L, arg);
    if (!sy_dtype_from_name(name, &dt))
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "unknown dtype '%s' (expected float32, float64, int64, uint8 or bool)",
                                      name));
    return dt;
}

sy_dtype sylua_optdtype(lua_State *L, int arg, sy_dtype def) {
    return lua_isnoneornil(L, arg) ? def : sylua_checkdtype(L, arg);
}

sy_tensor *sylua_checkoperand(lua_State *L, int idx, const sy_tensor *other) {
    sy_tensor *t, **slot;
    sy_dtype dt;
    if ((t = sylua_totensor(L, idx))) return t;
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        dt = SY_BOOL;
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        if (other && sy_dtype_is_float(other->dtype)) dt = other->dtype;
        else if (lua_isinteger(L, idx)) dt = SY_I64;
        else dt = SY_F32;
    } else {
        sylua_checktensor(L, idx);   /* raises the standard message */
        return NULL;
    }
    slot = sylua_newbox(L);
    sylua_check(L, sy_scalar(slot, dt,
                             lua_type(L, idx) == LUA_TBOOLEAN ? lua_toboolean(L, idx) : lua_tonumber(L, idx)));
    return *slot;
}

void sylua_register(lua_State *L, const luaL_Reg *funcs, int where) {
    /* module table on top; methods table in the metatable's "methods" field */
    luaL_getmetatable(L, SYLUA_TENSOR_MT);
    lua_getfield(L, -1, "methods");
    for (; funcs->name; funcs++) {
        add_binding(L, funcs->func);
        if (where & SYLUA_FUNCTION) {
            lua_pushcfunction(L, funcs->func);
            lua_setfield(L, -4, funcs->name);
        }
        if (where & SYLUA_METHOD) {
            lua_pushcfunction(L, funcs->func);
            lua_setfield(L, -2, funcs->name);
        }
    }
    lua_pop(L, 2);
}

/* ---------------------------------------------------------------- creation */

/* Walks the first elements of a nested table to find its shape. */
static int table_shape(lua_State *L, int idx, int64_t *size) {
    int n = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        if (n == SY_MAX_DIMS) luaL_error(L, "tensor: nesting deeper than %d levels", SY_MAX_DIMS);
        size[n++] = (int64_t)luaL_len(L, -1);
        if (size[n - 1] == 0) break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return n;
}

struct fill_state {
    sy_tensor *t;
    int64_t pos;
    int64_t index[SY_MAX_DIMS];
};

static void table_fill(lua_State *L, struct fill_state *fs, int level, int ndim) {
    int64_t i, n = fs->t->size[level];
    char path[SY_MAX_DIMS * 24 + 1];
    int k, used = 0;
    if ((int64_t)luaL_len(L, -1) != n || lua_rawlen(L, -1) != (size_t)n) {
        for (k = 0; k < level; k++)
            used += snprintf(path + used, sizeof path - (size_t)used, "[%lld]", (long long)fs->index[k] + 1);
        path[used] = '\0';
        luaL_error(L, "tensor: element %s has %d entries, expected %d (rows must all have the same length)",
                   used ? path : "{}", (int)luaL_len(L, -1), (int)n);
    }
    for (i = 0; i < n; i++) {
        fs->index[level] = i;
        lua_geti(L, -1, i + 1);
        if (level + 1 < ndim) {
            if (!lua_istable(L, -1)) goto bad;
            table_fill(L, fs, level + 1, ndim);
        } else {
            int isnum;
            double v;
            if (lua_type(L, -1) == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
            else {
                v = lua_tonumberx(L, -1, &isnum);
                if (!isnum || lua_type(L, -1) != LUA_TNUMBER) goto bad;
            }
            sy_value_store((char *)fs->t->storage->data + fs->pos * sy_dtype_size(fs->t->dtype),
                           fs->t->dtype, v);
            fs->pos++;
        }
        lua_pop(L, 1);
    }
    return;
bad:
    for (k = 0; k <= level; k++)
        used += snprintf(path + used, sizeof path - (size_t)used, "[%lld]", (long long)fs->index[k] + 1);
    path[used] = '\0';
    luaL_error(L, "tensor: element %s is a %s, expected a %s", path, luaL_typename(L, -1),
               level + 1 < ndim ? "table (rows must all have the same depth)" : "number");
}

/* sy.tensor(table_or_number [, dtype]) */
static int l_tensor(lua_State *L) {
    int64_t size[SY_MAX_DIMS];
    sy_dtype dt = sylua_optdtype(L, 2, SY_F32);
    sy_tensor **slot;
    int nd;
    if (lua_type(L, 1) == LUA_TNUMBER || lua_type(L, 1) == LUA_TBOOLEAN) {
        slot = sylua_newbox(L);
        sylua_check(L, sy_scalar(slot, lua_isnoneornil(L, 2) && lua_isboolean(L, 1) ? SY_BOOL : dt,
                                 lua_isboolean(L, 1) ? lua_toboolean(L, 1) : lua_tonumber(L, 1)));
        return 1;
    }
    if (sylua_totensor(L, 1)) {   /* sy.tensor(t) copies, like torch.tensor */
        sy_tensor *src = sylua_checktensor(L, 1);
        slot = sylua_newbox(L);
        sylua_check(L, sy_tensor_to_dtype(slot, src, lua_isnoneornil(L, 2) ? src->dtype : dt));
        sylua_account(L, -1);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    nd = table_shape(L, 1, size);
    slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_empty(slot, dt, nd, size));
    {
        struct fill_state fs;
        memset(&fs, 0, sizeof fs);
        fs.t = *slot;
        lua_pushvalue(L, 1);
        if (nd > 0) table_fill(L, &fs, 0, nd);
        lua_pop(L, 1);
    }
    sylua_account(L, -1);
    return 1;
}

/* Sizes from `arg` on; an optional dtype string may follow them. */
static int sizes_and_dtype(lua_State *L, int arg, int64_t *size, sy_dtype *dt, sy_dtype def) {
    int n = sylua_checksizes(L, arg, size);
    int next = lua_istable(L, arg) ? arg + 1 : arg + n;
    if (!lua_isnoneornil(L, next) && lua_type(L, next) != LUA_TSTRING) {
        luaL_argerror(L, next,
                      lua_pushfstring(L, "size or dtype expected, got %s", luaL_typename(L, next)));
    }
    *dt = sylua_optdtype(L, next, def);
    return n;
}

static int make_filled(lua_State *L, int arg, double value, int fill) {
    int64_t size[SY_MAX_DIMS];
    sy_dtype dt;
    int n = sizes_and_dtype(L, arg, size, &dt, SY_F32);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_new(slot, dt, n, size));
    if (fill) sylua_check(L, sy_tensor_fill_(*slot, value));
    sylua_account(L, -1);
    return 1;
}

static int l_zeros(lua_State *L) { return make_filled(L, 1, 0, 0); }
static int l_ones(lua_State *L) { return make_filled(L, 1, 1, 1); }
static int l_empty(lua_State *L) { return make_filled(L, 1, 0, 0); }

/* sy.full(sizes..., value [, dtype]) or sy.full({sizes}, value [, dtype]) */
static int l_full(lua_State *L) {
    int64_t size[SY_MAX_DIMS];
    int n, vi;
    sy_dtype dt;
    sy_tensor **slot;
    if (lua_istable(L, 1)) {
        n = sylua_checksizes(L, 1, size);
        vi = 2;
    } else {
        /* every number but the last is a size */
        int top = lua_gettop(L), last = 1;
        while (last < top && lua_type(L, last + 1) == LUA_TNUMBER) last++;
        vi = last;
        n = 0;
        for (int i = 1; i < vi; i++) {
            if (n == SY_MAX_DIMS) luaL_argerror(L, i, "too many dimensions");
            size[n] = luaL_checkinteger(L, i);
            if (size[n] < 0) luaL_argerror(L, i, "size must not be negative");
            n++;
        }
    }
    luaL_checknumber(L, vi);
    dt = sylua_optdtype(L, vi + 1, SY_F32);
    slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_empty(slot, dt, n, size));
    sylua_check(L, sy_tensor_fill_(*slot, lua_tonumber(L, vi)));
    sylua_account(L, -1);
    return 1;
}

static int like(lua_State *L, double value, int fill) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sy_dtype dt = sylua_optdtype(L, fill == 2 ? 3 : 2, t->dtype);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_tensor_new(slot, dt, t->ndim, t->size));
    if (fill) sylua_check(L, sy_tensor_fill_(*slot, value));
    sylua_account(L, -1);
    return 1;
}

static int l_zeros_like(lua_State *L) { return like(L, 0, 0); }
static int l_ones_like(lua_State *L) { return like(L, 1, 1); }
static int l_full_like(lua_State *L) { return like(L, luaL_checknumber(L, 2), 2); }

static int l_is_tensor(lua_State *L) {
    lua_pushboolean(L, sylua_totensor(L, 1) != NULL);
    return 1;
}

/* ---------------------------------------------------------------- queries */

static int m_size(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int i;
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, t->size[sylua_checkdim(L, 2, t, 0)]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->size[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_stride(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int i;
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, t->stride[sylua_checkdim(L, 2, t, 0)]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->stride[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_dim(lua_State *L) {
    lua_pushinteger(L, sylua_checktensor(L, 1)->ndim);
    return 1;
}

static int m_numel(lua_State *L) {
    lua_pushinteger(L, sy_tensor_numel(sylua_checktensor(L, 1)));
    return 1;
}

static int m_dtype(lua_State *L) {
    lua_pushstring(L, sy_dtype_name(sylua_checktensor(L, 1)->dtype));
    return 1;
}

static int m_device(lua_State *L) {
    lua_pushstring(L, sylua_checktensor(L, 1)->storage->device == SY_CPU ? "cpu" : "cuda");
    return 1;
}

static int m_is_contiguous(lua_State *L) {
    lua_pushboolean(L, sy_tensor_is_contiguous(sylua_checktensor(L, 1)));
    return 1;
}

static int m_storage_offset(lua_State *L) {
    lua_pushinteger(L, sylua_checktensor(L, 1)->offset);
    return 1;
}

/* Same storage? (for tests of view semantics) */
static int m_shares_storage(lua_State *L) {
    lua_pushboolean(L, sylua_checktensor(L, 1)->storage == sylua_checktensor(L, 2)->storage);
    return 1;
}

static void push_value(lua_State *L, const sy_tensor *t, const int64_t *index) {
    double v = sy_tensor_get(t, index);
    if (t->dtype == SY_BOOL) lua_pushboolean(L, v != 0);
    else if (t->dtype == SY_I64) {
        int64_t off = t->offset;
        int i;
        for (i = 0; i < t->ndim; i++) off += index[i] * t->stride[i];
        lua_pushinteger(L, ((const int64_t *)t->storage->data)[off]);
    } else if (t->dtype == SY_U8) lua_pushinteger(L, (lua_Integer)v);
    else lua_pushnumber(L, v);
}

static int m_item(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int64_t index[SY_MAX_DIMS] = {0};
    char buf[SY_SHAPE_STRLEN];
    if (sy_tensor_numel(t) != 1)
        return luaL_error(L, "item: tensor of shape %s has %d elements, expected exactly 1",
                          sy_shape_str(buf, sizeof buf, t->ndim, t->size), (int)sy_tensor_numel(t));
    push_value(L, t, index);
    return 1;
}

static void totable_rec(lua_State *L, const sy_tensor *t, int64_t *index, int level) {
    int64_t i;
    luaL_checkstack(L, 4, "tensor too deeply nested");
    lua_createtable(L, (int)t->size[level], 0);
    for (i = 0; i < t->size[level]; i++) {
        index[level] = i;
        if (level + 1 == t->ndim) push_value(L, t, index);
        else totable_rec(L, t, index, level + 1);
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_totable(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int64_t index[SY_MAX_DIMS] = {0};
    if (t->ndim == 0) push_value(L, t, index);
    else totable_rec(L, t, index, 0);
    return 1;
}

/* ------------------------------------------------------------------ views */

static int m_narrow(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int dim = sylua_checkdim(L, 2, t, 0);
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    sy_tensor **slot;
    if (start < 0) start += t->size[dim] + 1;
    if (start < 1 || start > t->size[dim] + 1)
        luaL_argerror(L, 3, lua_pushfstring(L, "start %I out of range for size %I of dimension %d",
                                            luaL_checkinteger(L, 3), (lua_Integer)t->size[dim], dim + 1));
    /* len > size - (start - 1), not start - 1 + len > size: len may be huge */
    if (len < 0 || len > t->size[dim] - (start - 1))
        luaL_argerror(L, 4, lua_pushfstring(L, "length %I from start %I exceeds size %I of dimension %d",
                                            len, start, (lua_Integer)t->size[dim], dim + 1));
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_narrow(slot, t, dim, start - 1, len));
    return 1;
}

static int64_t check_index(lua_State *L, int arg, const sy_tensor *t, int dim) {
    lua_Integer i = luaL_checkinteger(L, arg);
    if (i < 0) i += t->size[dim] + 1;
    if (i < 1 || i > t->size[dim])
        luaL_argerror(L, arg, lua_pushfstring(L, "index %I out of range for size %I of dimension %d",
                                              luaL_checkinteger(L, arg), (lua_Integer)t->size[dim],
                                              dim + 1));
    return i - 1;
}

static int m_select(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int dim = sylua_checkdim(L, 2, t, 0);
    int64_t i = check_index(L, 3, t, dim);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_select(slot, t, dim, i));
    return 1;
}

static int m_transpose(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int d0, d1;
    sy_tensor **slot;
    if (lua_isnoneornil(L, 2) && t->ndim <= 2) {   /* t:t() / t:transpose() on a matrix */
        d0 = 0;
        d1 = t->ndim == 2 ? 1 : 0;
        if (t->ndim == 0) {
            sylua_pushtensor(L, sy_tensor_retain(t));
            return 1;
        }
    } else {
        d0 = sylua_checkdim(L, 2, t, 0);
        d1 = sylua_checkdim(L, 3, t, 0);
    }
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_transpose(slot, t, d0, d1));
    return 1;
}

/* t:unfold(dim, size, step): sliding windows as a view (torch.Tensor.unfold).
** The checks are here so the messages count dimensions from 1. */
static int m_unfold(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    lua_Integer size = luaL_checkinteger(L, 3), step = luaL_checkinteger(L, 4);
    int dim = 0;
    int64_t len = 1;
    sy_tensor **slot;
    if (t->ndim == 0) {   /* as in PyTorch: one window of one element */
        lua_Integer d = luaL_checkinteger(L, 2);
        if (d != 1 && d != -1)
            luaL_argerror(L, 2, lua_pushfstring(L, "dimension %I out of range for a 0-d tensor "
                                                "(expected 1 or -1)", d));
    } else {
        dim = sylua_checkdim(L, 2, t, 0);
        len = t->size[dim];
    }
    if (size < 1 || size > len)
        luaL_argerror(L, 3, lua_pushfstring(L, "window size %I must be in 1..%I, the size of "
                                            "dimension %d", size, (lua_Integer)len, dim + 1));
    if (step < 1) luaL_argerror(L, 4, lua_pushfstring(L, "step must be at least 1, got %I", step));
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_unfold(slot, t, dim, size, step));
    return 1;
}

static int m_t(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    if (t->ndim > 2)
        return luaL_error(L, "t: expects a tensor with at most 2 dimensions, got %d (use transpose)",
                          t->ndim);
    lua_settop(L, 1);
    return m_transpose(L);
}

static int m_permute(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int dims[SY_MAX_DIMS], seen[SY_MAX_DIMS] = {0}, i, n, tab = lua_istable(L, 2);
    sy_tensor **slot;
    n = tab ? (int)luaL_len(L, 2) : lua_gettop(L) - 1;
    if (n != t->ndim)
        return luaL_error(L, "permute: %d dimensions given for a %d-d tensor", n, t->ndim);
    for (i = 0; i < n; i++) {
        if (tab) {
            lua_geti(L, 2, i + 1);
            dims[i] = sylua_checkdim(L, -1, t, 0);
            lua_pop(L, 1);
        } else {
            dims[i] = sylua_checkdim(L, i + 2, t, 0);
        }
        if (seen[dims[i]]++)
            return luaL_error(L, "permute: dimension %d appears twice", dims[i] + 1);
    }
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_permute(slot, t, dims));
    return 1;
}

/* view/reshape/expand accept -1 in their sizes, so they read sizes here. */
static int signed_sizes(lua_State *L, int arg, int64_t *size) {
    int n = 0, i, tab = lua_istable(L, arg);
    int top = lua_gettop(L);
    if (tab) {
        n = (int)luaL_len(L, arg);
        if (n > SY_MAX_DIMS) luaL_argerror(L, arg, "too many dimensions");
        for (i = 0; i < n; i++) {
            lua_geti(L, arg, i + 1);
            if (!lua_isinteger(L, -1))
                luaL_argerror(L, arg, lua_pushfstring(L, "size %d is not an integer", i + 1));
            size[i] = lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        return n;
    }
    for (i = arg; i <= top; i++) {
        if (n == SY_MAX_DIMS) luaL_argerror(L, i, "too many dimensions");
        size[n++] = luaL_checkinteger(L, i);
    }
    return n;
}

static int m_view(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int64_t size[SY_MAX_DIMS];
    int n = signed_sizes(L, 2, size);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_view(slot, t, n, size));
    return 1;
}

static int m_reshape(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int64_t size[SY_MAX_DIMS];
    int n = signed_sizes(L, 2, size);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_reshape(slot, t, n, size));
    sylua_account(L, -1);
    return 1;
}

static int m_flatten(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int64_t size[1] = {-1};
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_reshape(slot, t, 1, size));
    sylua_account(L, -1);
    return 1;
}

static int m_expand(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int64_t size[SY_MAX_DIMS];
    int n = signed_sizes(L, 2, size);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_expand(slot, t, n, size));
    return 1;
}

static int m_expand_as(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *o = sylua_checktensor(L, 2);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_expand(slot, t, o->ndim, o->size));
    return 1;
}

static int m_unsqueeze(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int dim = sylua_checkdim(L, 2, t, 1);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_unsqueeze(slot, t, dim));
    return 1;
}

static int m_squeeze(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    int dim = lua_isnoneornil(L, 2) ? -1 : sylua_checkdim(L, 2, t, 0);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_squeeze(slot, t, dim));
    return 1;
}

/* ----------------------------------------------------------------- copies */

static int m_clone(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sy_tensor **slot = sylua_newbox(L);
    sylua_check(L, sy_ag_clone(slot, t));
    sylua_account(L, -1);
    return 1;
}

static int m_contiguous(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sy_tensor **slot;
    if (sy_tensor_is_contiguous(t)) {
        lua_settop(L, 1);
        return 1;
    }
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_clone(slot, t));
    sylua_account(L, -1);
    return 1;
}

static int m_copy_(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *src = sylua_checktensor(L, 2);
    sylua_check(L, sy_ag_check_inplace("copy_", t));
    sylua_check(L, sy_tensor_copy_(t, src));
    lua_settop(L, 1);
    return 1;
}

static int m_fill_(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    double v = lua_isboolean(L, 2) ? lua_toboolean(L, 2) : luaL_checknumber(L, 2);
    sylua_check(L, sy_ag_check_inplace("fill_", t));
    sylua_check(L, sy_tensor_fill_(t, v));
    lua_settop(L, 1);
    return 1;
}

static int m_zero_(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sylua_check(L, sy_ag_check_inplace("zero_", t));
    sylua_check(L, sy_tensor_fill_(t, 0));
    lua_settop(L, 1);
    return 1;
}

static int convert(lua_State *L, sy_dtype dt) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sy_tensor **slot;
    if (t->dtype == dt) {
        lua_settop(L, 1);
        return 1;
    }
    slot = sylua_newbox(L);
    sylua_check(L, sy_ag_to_dtype(slot, t, dt));
    sylua_account(L, -1);
    return 1;
}

static int m_to(lua_State *L) {
    sylua_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "cpu") == 0) {
        lua_settop(L, 1);
        return 1;
    }
    return convert(L, sylua_checkdtype(L, 2));
}

static int m_float(lua_State *L) { return convert(L, SY_F32); }
static int m_double(lua_State *L) { return convert(L, SY_F64); }
static int m_long(lua_State *L) { return convert(L, SY_I64); }
static int m_byte(lua_State *L) { return convert(L, SY_U8); }
static int m_bool(lua_State *L) { return convert(L, SY_BOOL); }

/* --------------------------------------------------------------- indexing */

static int tensor_index(lua_State *L) {
    sy_tensor *t;
    if (lua_type(L, 2) == LUA_TSTRING) {   /* autograd properties, then methods */
        if (sylua_autograd_property(L)) return 1;
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "methods");
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
        return 1;
    }
    t = sylua_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        int64_t i, index[1];
        if (t->ndim == 0) return luaL_error(L, "cannot index a 0-d tensor (use item())");
        i = check_index(L, 2, t, 0);
        if (t->ndim == 1) {
            index[0] = i;
            push_value(L, t, index);
        } else {
            sy_tensor **slot = sylua_newbox(L);
            sylua_check(L, sy_ag_select(slot, t, 0, i));
        }
        return 1;
    }
    return luaL_error(L, "tensor index must be an integer or a method name, got %s",
                      luaL_typename(L, 2));
}

static int tensor_newindex(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1), *src, *row;
    int64_t i;
    sy_status st;
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "grad") == 0)
        return sylua_set_grad(L);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "tensor: cannot assign to key of type %s (only integer indices)",
                          luaL_typename(L, 2));
    if (t->ndim == 0) return luaL_error(L, "cannot index a 0-d tensor (use fill_)");
    i = check_index(L, 2, t, 0);
    src = sylua_checkoperand(L, 3, t);
    sylua_check(L, sy_ag_check_inplace("index assignment", t));
    if ((st = sy_tensor_select(&row, t, 0, i)) == SY_OK) {
        st = sy_tensor_copy_(row, src);
        sy_tensor_release(row);
    }
    sylua_check(L, st);
    return 0;
}

static int tensor_len(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "length of a 0-d tensor is undefined (use numel())");
    lua_pushinteger(L, t->size[0]);
    return 1;
}

/* ---------------------------------------------------------------- printing */

#define PRINT_EDGE 3          /* entries kept at each end when summarising */
#define PRINT_THRESHOLD 1000  /* more elements than this are summarised */

struct fmt {
    char spec[16];
    int width;
    int integral;
    int summarize;
};

static int elide(const struct fmt *f, const sy_tensor *t, int d, int64_t i) {
    return f->summarize && t->size[d] > 2 * PRINT_EDGE && i >= PRINT_EDGE &&
           i < t->size[d] - PRINT_EDGE;
}

static void format_value(char *buf, size_t n, const struct fmt *f, const sy_tensor *t, double v) {
    if (t->dtype == SY_BOOL) snprintf(buf, n, "%s", v != 0 ? "true" : "false");
    else if (!sy_dtype_is_float(t->dtype)) snprintf(buf, n, "%.0f", v);
    else if (v != v) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (f->integral) snprintf(buf, n, "%.0f.", v);
    else snprintf(buf, n, f->spec, v);
}

/* Visits the printed elements (all, or the summary's corners). */
typedef void (*visit_fn)(const sy_tensor *t, double v, void *ud);

static void visit(const sy_tensor *t, const struct fmt *f, int64_t *index, int d, visit_fn fn,
                  void *ud) {
    int64_t i;
    if (d == t->ndim) {
        fn(t, sy_tensor_get(t, index), ud);
        return;
    }
    for (i = 0; i < t->size[d]; i++) {
        if (elide(f, t, d, i)) continue;
        index[d] = i;
        visit(t, f, index, d + 1, fn, ud);
    }
}

struct range {
    double maxabs, minabs;
    int integral, finite_seen;
};

static void range_fn(const sy_tensor *t, double v, void *ud) {
    struct range *r = ud;
    (void)t;
    if (v != v || isinf(v)) return;
    r->finite_seen = 1;
    if (fabs(v) > r->maxabs) r->maxabs = fabs(v);
    if (v != 0 && fabs(v) < r->minabs) r->minabs = fabs(v);
    if (v != floor(v)) r->integral = 0;
}

struct widthctx {
    const struct fmt *f;
    int width;
};

static void width_fn(const sy_tensor *t, double v, void *ud) {
    struct widthctx *w = ud;
    char buf[64];
    int n;
    format_value(buf, sizeof buf, w->f, t, v);
    n = (int)strlen(buf);
    if (n > w->width) w->width = n;
}

static void print_rec(luaL_Buffer *b, const sy_tensor *t, const struct fmt *f, int64_t *index,
                      int d, int indent) {
    int64_t i;
    char buf[64];
    luaL_addchar(b, '[');
    for (i = 0; i < t->size[d]; i++) {
        if (elide(f, t, d, i)) {
            if (i == PRINT_EDGE) {
                if (d + 1 == t->ndim) luaL_addstring(b, "..., ");
                else {
                    luaL_addstring(b, "...,\n");
                    for (int k = 0; k < indent + d + 1; k++) luaL_addchar(b, ' ');
                }
            }
            continue;
        }
        index[d] = i;
        if (d + 1 == t->ndim) {
            format_value(buf, sizeof buf, f, t, sy_tensor_get(t, index));
            for (int k = (int)strlen(buf); k < f->width; k++) luaL_addchar(b, ' ');
            luaL_addstring(b, buf);
        } else {
            print_rec(b, t, f, index, d + 1, indent);
        }
        if (i + 1 < t->size[d]) {
            if (d + 1 == t->ndim) luaL_addstring(b, ", ");
            else {
                luaL_addchar(b, ',');
                for (int k = d + 1; k < t->ndim; k++) luaL_addchar(b, '\n');
                for (int k = 0; k < indent + d + 1; k++) luaL_addchar(b, ' ');
            }
        }
    }
    luaL_addchar(b, ']');
}

static int tensor_tostring(lua_State *L) {
    sylua_box *box = luaL_checkudata(L, 1, SYLUA_TENSOR_MT);
    const sy_tensor *t = box->t;
    luaL_Buffer b;
    struct fmt f;
    struct range r = {0, INFINITY, 1, 0};
    struct widthctx w;
    int64_t index[SY_MAX_DIMS] = {0};
    char shape[SY_SHAPE_STRLEN];
    if (!t) {
        lua_pushliteral(L, "tensor(<closed>)");
        return 1;
    }
    memset(&f, 0, sizeof f);
    f.summarize = sy_tensor_numel(t) > PRINT_THRESHOLD;
    visit(t, &f, index, 0, range_fn, &r);
    f.integral = r.integral && r.maxabs < 1e8;
    if (r.finite_seen && (r.maxabs >= 1e8 || r.minabs < 1e-4)) strcpy(f.spec, "%.4e");
    else strcpy(f.spec, "%.4f");
    w.f = &f;
    w.width = 0;
    visit(t, &f, index, 0, width_fn, &w);
    f.width = w.width;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor(");
    if (t->ndim == 0) {
        char buf[64];
        format_value(buf, sizeof buf, &f, t, sy_tensor_get(t, index));
        luaL_addstring(&b, buf);
    } else if (sy_tensor_numel(t) == 0) {
        luaL_addstring(&b, "[]");
    } else {
        print_rec(&b, t, &f, index, 0, 7);
    }
    luaL_addstring(&b, ", shape=");
    luaL_addstring(&b, sy_shape_str(shape, sizeof shape, t->ndim, t->size));
    luaL_addstring(&b, ", dtype=");
    luaL_addstring(&b, sy_dtype_name(t->dtype));
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}

/* ---------------------------------------------------------- registration */

static const luaL_Reg metamethods[] = {
    {"__index", tensor_index},       {"__newindex", tensor_newindex},
    {"__len", tensor_len},           {"__tostring", tensor_tostring},
    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"tensor", l_tensor},         {"zeros", l_zeros},           {"ones", l_ones},
    {"empty", l_empty},           {"full", l_full},             {"zeros_like", l_zeros_like},
    {"ones_like", l_ones_like},   {"full_like", l_full_like},   {"is_tensor", l_is_tensor},
    {NULL, NULL}};

static const luaL_Reg both_funcs[] = {
    {"narrow", m_narrow},       {"select", m_select},           {"transpose", m_transpose},
    {"permute", m_permute},     {"view", m_view},               {"reshape", m_reshape},
    {"flatten", m_flatten},     {"expand", m_expand},           {"unsqueeze", m_unsqueeze},
    {"squeeze", m_squeeze},     {"clone", m_clone},             {"contiguous", m_contiguous},
    {"numel", m_numel},         {"unfold", m_unfold},           {NULL, NULL}};

static const luaL_Reg method_funcs[] = {
    {"size", m_size},
    {"stride", m_stride},
    {"dim", m_dim},
    {"dtype", m_dtype},
    {"device", m_device},
    {"is_contiguous", m_is_contiguous},
    {"storage_offset", m_storage_offset},
    {"shares_storage", m_shares_storage},
    {"item", m_item},
    {"totable", m_totable},
    {"t", m_t},
    {"expand_as", m_expand_as},
    {"copy_", m_copy_},
    {"fill_", m_fill_},
    {"zero_", m_zero_},
    {"to", m_to},
    {"float", m_float},
    {"double", m_double},
    {"long", m_long},
    {"byte", m_byte},
    {"bool", m_bool},
    {NULL, NULL}};

void sylua_open_tensor(lua_State *L) {
    /* module table on top */
    luaL_newmetatable(L, SYLUA_TENSOR_MT);
    lua_newtable(L);
    lua_setfield(L, -2, "methods");
    sylua_setfuncs(L, metamethods);
    lua_pushcfunction(L, tensor_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, tensor_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    sylua_register(L, module_funcs, SYLUA_FUNCTION);
    sylua_register(L, both_funcs, SYLUA_FUNCTION | SYLUA_METHOD);
    sylua_register(L, method_funcs, SYLUA_METHOD);
}
