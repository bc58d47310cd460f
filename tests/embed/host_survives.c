/*
** host_survives.c -- a C program that embeds synlua in its own lua_State,
** runs hostile chunks under lua_pcall (bad arguments, out of memory in
** the core and in Lua, stack overflows, odd error values, errors in
** finalizers and coroutines, bad files) and keeps using the same state after
** each: a computation still gives the right value, the stack is balanced,
** and once collected every byte the core allocated is free again. Ends with
** a few training steps and lua_close. SY_LUA_DIR (set by the build) is
** where the Lua half of synlua lives.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "core/alloc.h"
#include "lua/sylua.h"

/* Under AddressSanitizer an impossible allocation must come back as NULL,
** as it does from the C library, rather than stop the process. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* Lua's own memory is capped so that a chunk can exhaust it. */
#define LUA_LIMIT ((size_t)64 << 20)
static size_t lua_bytes;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    size_t old = ptr ? osize : 0;
    void *p;
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        lua_bytes -= old;
        return NULL;
    }
    if (nsize > old && lua_bytes + (nsize - old) > LUA_LIMIT) return NULL;
    p = realloc(ptr, nsize);
    if (p) lua_bytes = lua_bytes - old + nsize;
    return p;
}

typedef struct hostile {
    const char *what;
    int status;   /* what loading and running it must return */
    const char *chunk;
} hostile;

static const hostile chunks[] = {
    {"syntax error", LUA_ERRSYNTAX, "this is not Lua"},
    {"bad argument", LUA_ERRRUN, "sy.zeros('three')"},
    {"shape mismatch", LUA_ERRRUN, "sy.matmul(sy.ones(2, 3), sy.ones(2, 3))"},
    {"table error value", LUA_ERRRUN, "error({code = 1})"},
    {"nil error value", LUA_ERRRUN, "error(nil)"},
    {"error value whose __tostring fails", LUA_ERRRUN,
     "error(setmetatable({}, {__tostring = function() error('again') end}))"},
    {"tensor too large", LUA_ERRRUN, "sy.zeros(1e6, 1e6)"},
    {"injected out of memory", LUA_ERRRUN, "sy._fail_alloc_after(1); sy.randn(4, 4)"},
    {"out of memory in the middle of backward", LUA_ERRRUN,
     "local w = sy.randn(5, 5); w:requires_grad(true)\n"
     "local y = (w:tanh() * w):sum(); sy._fail_alloc_after(3); y:backward()"},
    {"Lua out of memory holding tensors", LUA_ERRMEM,
     "local t = {sy.ones(1000)}\n"
     "for i = 2, 1e9 do t[i] = string.rep('x', 1000) .. i end"},
    {"Lua stack overflow", LUA_ERRRUN, "local function f(t) local r = f(t); return r end f(sy.zeros(2))"},
    {"C stack overflow", LUA_ERRRUN, "local function f() return coroutine.wrap(f)() end f()"},
    {"error in a finalizer", LUA_ERRRUN,
     "setmetatable({}, {__gc = function() error('in gc') end}) collectgarbage() error('after')"},
    {"finalizer using tensors", LUA_ERRRUN,
     "setmetatable({}, {__gc = function() local t = sy.ones(3) + 1 end}) collectgarbage()\n"
     "sy.ones(2):view(3)"},
    {"closed tensor", LUA_ERRRUN, "local t = sy.ones(3); getmetatable(t).__close(t); return t + 1"},
    {"yield across a C boundary", LUA_ERRRUN,
     "local ok, e = coroutine.resume(coroutine.create(function() sy.no_grad(coroutine.yield) end))\n"
     "error(e)"},
    {"dead coroutine holding tensors", LUA_ERRRUN,
     "local co = coroutine.create(function() local t = sy.randn(100); coroutine.yield(t); error('x') end)\n"
     "coroutine.resume(co); local ok, e = coroutine.resume(co); error(e)"},
    {"missing file", LUA_ERRRUN, "sy.load('/nonexistent/synlua-host-test.safetensors')"},
    {"directory as a file", LUA_ERRRUN, "sy.load('/')"},
    {"unwritable path", LUA_ERRRUN, "sy.save('/nonexistent/x.safetensors', {w = sy.ones(1)})"},
    {"error inside no_grad", LUA_ERRRUN, "sy.no_grad(function() error('inside') end)"},
    {"module with a wrong input", LUA_ERRRUN, "sy.nn.Linear(3, 2)(sy.ones(4, 5))"},
};

static const char check_chunk[] =
    "local m = sy.tensor({{1, 2}, {3, 4}}):matmul(sy.tensor({{1}, {1}}))\n"
    "assert(m:totable()[2][1] == 7, 'wrong product')\n"
    "assert(sy.is_grad_enabled(), 'grad mode left off')\n";

static const char train_chunk[] =
    "sy.manual_seed(1)\n"
    "local lstm, fc = sy.nn.LSTM({input_size = 3, hidden_size = 8}), sy.nn.Linear(8, 1)\n"
    "local params = {}\n"
    "for _, p in ipairs(lstm:parameters()) do params[#params + 1] = p end\n"
    "for _, p in ipairs(fc:parameters()) do params[#params + 1] = p end\n"
    "local opt = sy.optim.Adam(params, {lr = 1e-2})\n"
    "local x, y = sy.randn(8, 4, 3), sy.randn(8, 1)\n"
    "local first, last\n"
    "for step = 1, 20 do\n"
    "  opt:zero_grad()\n"
    "  local out = lstm(x)\n"
    "  local loss = sy.mse_loss(fc(out:select(2, 4)), y)\n"
    "  loss:backward(); opt:step()\n"
    "  first = first or loss:item(); last = loss:item()\n"
    "end\n"
    "assert(last < first, 'training does not learn')\n";

static int failures;

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "host_survives: %s: %s\n", what, detail);
    failures++;
}

static void run_ok(lua_State *L, const char *what, const char *chunk) {
    if (luaL_dostring(L, chunk) != LUA_OK) {
        fail(what, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static void full_gc(lua_State *L) {
    lua_gc(L, LUA_GCCOLLECT);
    lua_gc(L, LUA_GCCOLLECT);
}

int main(void) {
    size_t i, n = sizeof chunks / sizeof chunks[0];
    int64_t baseline;
    lua_State *L = lua_newstate(capped_alloc, NULL);
    if (!L) return 1;
    luaL_openlibs(L);
    luaL_requiref(L, "synlua.core", luaopen_synlua_core, 0);
    lua_pop(L, 1);
    run_ok(L, "loading synlua",
           "package.path = '" SY_LUA_DIR "/?.lua;" SY_LUA_DIR "/?/init.lua;' .. package.path\n"
           "sy = require('synlua'); local _ = sy.nn, sy.optim");
    run_ok(L, "first check", check_chunk);
    full_gc(L);
    baseline = sy_mem_in_use();
    for (i = 0; i < n; i++) {
        int st = luaL_loadstring(L, chunks[i].chunk);
        if (st == LUA_OK) st = lua_pcall(L, 0, 0, 0);
        char detail[256];
        sy_mem_fail_after(0);   /* a chunk may leave the hook armed */
        if (st != chunks[i].status) {
            snprintf(detail, sizeof detail, "status %d, expected %d", st, chunks[i].status);
            fail(chunks[i].what, detail);
        }
        if (st != LUA_OK) lua_pop(L, 1);
        if (lua_gettop(L) != 0) fail(chunks[i].what, "left values on the stack");
        run_ok(L, chunks[i].what, check_chunk);
        full_gc(L);
        if (sy_mem_in_use() != baseline) {
            snprintf(detail, sizeof detail, "%lld bytes of tensors left after collection",
                     (long long)(sy_mem_in_use() - baseline));
            fail(chunks[i].what, detail);
            baseline = sy_mem_in_use();
        }
    }
    run_ok(L, "training after the hostile chunks", train_chunk);
    lua_close(L);
    if (sy_mem_in_use() != 0) fail("lua_close", "tensors left allocated");
    if (failures) return 1;
    printf("host survives: %d hostile chunks, then training\n", (int)n);
    return 0;
}
