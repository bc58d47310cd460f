/*
** fuzz_lua_api.c -- libFuzzer target for the Lua face of synlua: every input
** runs in a fresh lua_State with synlua.core opened as the global `sy`, and
** the process must survive whatever the input does.
**
** Two kinds of input:
**   - starting with "--": a Lua chunk (text only: Lua's binary chunks are
**     unsafe by design), run under pcall with an instruction budget;
**   - anything else: a program of at most MAX_STEPS calls decoded from the
**     bytes. Each step picks a module function (sy.*, sy._optim.*,
**     sy._prune.*), a tensor method, an operator or a helper (close, backward,
**     save/load, requires_grad), takes its arguments from a pool of values
**     or from the bytes (small and hostile numbers, shapes, dtype names and
**     other strings, nested and ragged tables, option tables) and stores its
**     results back in the pool. Every call runs under lua_pcall; a failed
**     call must raise a string message.
**
** Lua's own allocations are capped (LUA_MEM_LIMIT), large core allocations
** fail (fuzz_common.h) and sy._fail_alloc_after is one of the functions, so
** memory errors are part of the search. After lua_close every byte the core allocated must be free again.
** Files are read and written only inside a private directory, which is
** emptied before each input so that runs are reproducible.
*/
#include <dirent.h>
#include <fcntl.h>

#include <lualib.h>

#include "fuzz_common.h"
#include "lua/sylua.h"

#define LUA_MEM_LIMIT ((size_t)64 << 20)
#define MAX_STEPS 64
#define POOL 16
#define MAX_ARGS 7
#define INSN_BUDGET 200000   /* Lua instructions for a text input */
#define HOOK_EVERY 1000

/* Functions that spin for a caller-chosen time or start threads are left
** out: their cost, not their safety, is what the arguments control. */
static const char *const skipped[] = {"set_num_threads", "_sgemm_seconds", NULL};

static const char *const strings[] = {
    "float32", "float64", "int64", "uint8", "bool", "cpu", "cuda", "mean", "sum", "none", "tanh",
    "", "x", "a", "f.st", "missing.st", "f.csv", "exp_avg", "exp_avg_sq", "momentum_buffer",
    "max_exp_avg_sq", "step", "params", "grads", "masks", "weights", "lr", "betas", "eps",
    "weight_decay", "momentum", "nesterov", "amsgrad", "maximize", "dampening", "delimiter",
    "decimal", "header", "na", "types", "nrows", "infer_rows", ",", ";", ".", "tab", "auto",
    "number", "datetime", "time", "text", "2024-01-02", "12:30", "1,5", "nan", "-1", "1e400"};
#define NSTRINGS (sizeof strings / sizeof strings[0])

static const double numbers[] = {
    0.5, -0.5, 1e-7, 1e-300, 5e-324, 1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0, 2147483648.0, 2147483647.0,
    4294967296.0, 9007199254740992.0, 4611686018427387904.0, 9223372036854775808.0, 1e308, 1e6,
    1e9, 255, 256, 3.7, -2.5, 100, -100, 64, -0.0, -9223372036854775808.0, 1e19, -1e19};
#define NNUMBERS (sizeof numbers / sizeof numbers[0])

/* Sizes are mostly small; the rest are the values that break size arithmetic. */
static const double dims[] = {16, 64, 300, -1, -2, -100, 2147483648.0, 4294967296.0,
                              1099511627776.0, 9007199254740992.0, 4611686018427387904.0,
                              9223372036854775807.0, -9223372036854775808.0, 0.5, 0.0 / 0.0,
                              1.0 / 0.0, 9223372036854775808.0, 1e300, 65536, 46341, 3037000500.0,
                              2, 3, 1};
#define NDIMS (sizeof dims / sizeof dims[0])

/* Runs once per state before the input: the sandbox (file functions take
** plain names only, resolved in the private directory), the pool's first
** values and the helpers that binary programs call. */
static const char prelude[] =
    "local sy, find = sy, string.find\n"
    "for _, name in ipairs({'save', 'load', '_read_csv'}) do\n"
    "  local f = sy[name]\n"
    "  sy[name] = function(path, ...)\n"
    "    if type(path) == 'string' and find(path, '/', 1, true) then error('sandbox: ' .. path) end\n"
    "    return f(path, ...)\n"
    "  end\n"
    "end\n"
    "-- Lua's pattern matcher can backtrack for minutes; it is not synlua.\n"
    "string.find, string.match, string.gmatch, string.gsub = nil, nil, nil, nil\n"
    "sy.manual_seed(0)\n"
    "sy.set_grad_enabled(true)\n"
    "sy.save('f.st', {w = sy.ones(2, 3), b = sy.tensor({1, 2}, 'int64')}, {note = 'seed'})\n"
    "local w = sy.randn(3, 3); w:requires_grad(true)\n"
    "local pool = {sy.ones(2, 3), w, sy.arange(6):view(2, 3):t(), sy.tensor({1, 2, 3}, 'int64'),\n"
    "  sy.tensor(1.5), sy.zeros(0), sy.tensor({true, false, true}, 'bool'), sy.randn(2, 3, 4):double(),\n"
    "  sy.randn(2, 5, 3), sy.randn(16, 3), sy.randn(16, 4), sy.zeros(16)}\n"
    "local helpers = {\n"
    "  function(a, b) return a + b end, function(a, b) return a - b end,\n"
    "  function(a, b) return a * b end, function(a, b) return a / b end,\n"
    "  function(a, b) return a ^ b end, function(a) return -a end,\n"
    "  function(a) return #a end, function(a) return tostring(a) end,\n"
    "  function(a, i) return a[i] end, function(a, i, v) a[i] = v end,\n"
    "  function(a) getmetatable(a).__close(a) end,\n"
    "  function(a) local s = a:sum(); s:backward(); return a.grad end,\n"
    "  function(a, b) sy.save('f.st', {a = a, b = b}, {k = 'v'}); return sy.load('f.st') end,\n"
    "  function(a, b) a:requires_grad(b ~= false); return a end,\n"
    "  function(f, ...) return sy.no_grad(f, ...) end,\n"
    "  function() collectgarbage() end,\n"
    "  function(a) return a.grad, a.grad_fn, a.is_leaf end,\n"
    "  function(a, b) return a == b, a < b end,\n"
    "}\n"
    "return pool, helpers\n";

static const char csv_file[] = "a,b;c\n1,2;x\n3.5,-;y\n";

static char **func_names, **method_names;
static int nfuncs, nmethods;
static size_t lua_used;
static int insn_ticks;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    size_t old = ptr ? osize : 0;
    void *p;
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        lua_used -= old;
        return NULL;
    }
    if (nsize > old && lua_used + (nsize - old) > LUA_MEM_LIMIT) return NULL;
    p = realloc(ptr, nsize);
    if (p) lua_used = lua_used - old + nsize;
    return p;
}

/* Once the budget is spent every instruction fails, so no pcall inside the
** chunk can keep it running. */
static void budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (++insn_ticks * HOOK_EVERY > INSN_BUDGET) {
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "instruction budget exhausted");
    }
}

static lua_State *new_state(void) {
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},      {LUA_COLIBNAME, luaopen_coroutine},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
                                    {NULL, NULL}};
    static const char *const removed[] = {"dofile", "loadfile", "print", NULL};
    const luaL_Reg *lib;
    int i;
    lua_State *L = lua_newstate(limited_alloc, NULL);
    if (!L) return NULL;
    for (lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    for (i = 0; removed[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    luaL_requiref(L, "sy", luaopen_synlua_core, 1);
    for (i = 0; skipped[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, skipped[i]);
    }
    lua_pop(L, 1);
    return L;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the functions in the table at the top, prefixed. */
static void collect(lua_State *L, const char *prefix, char ***names, int *n) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION) {
            size_t len = strlen(prefix) + strlen(lua_tostring(L, -2)) + 1;
            char *s = malloc(len);
            snprintf(s, len, "%s%s", prefix, lua_tostring(L, -2));
            *names = realloc(*names, (size_t)(*n + 1) * sizeof **names);
            (*names)[(*n)++] = s;
        }
        lua_pop(L, 1);
    }
    qsort(*names, (size_t)*n, sizeof **names, cmp_str);
}

static void empty_dir(void) {
    DIR *d = opendir(".");
    struct dirent *e;
    if (!d) abort();
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) remove(e->d_name);
    closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    lua_State *L;
    fuzz_make_dir();
    L = new_state();
    lua_getglobal(L, "sy");
    collect(L, "", &func_names, &nfuncs);
    lua_getfield(L, -1, "_optim");
    collect(L, "_optim.", &func_names, &nfuncs);
    lua_pop(L, 1);
    lua_getfield(L, -1, "_prune");
    collect(L, "_prune.", &func_names, &nfuncs);
    lua_pop(L, 1);
    luaL_getmetatable(L, SYLUA_TENSOR_MT);
    lua_getfield(L, -1, "methods");
    collect(L, "", &method_names, &nmethods);
    lua_close(L);
    return 0;
}

/* ---------------------------------------------------------- binary programs */

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static unsigned next(reader *r) { return r->p < r->end ? *r->p++ : 0; }

enum { POOL_IDX = 1, HELPERS_IDX = 2 };

static void push_pool(lua_State *L, reader *r) { lua_geti(L, POOL_IDX, (lua_Integer)(next(r) % POOL) + 1); }

static void push_dim(lua_State *L, reader *r) {
    unsigned b = next(r);
    if (b < 256 - NDIMS) {
        lua_pushinteger(L, (lua_Integer)(b % 7));
        return;
    }
    double v = dims[b - (256 - NDIMS)];
    if (v == v && v >= -9223372036854775808.0 && v < 9223372036854775808.0 && v == (double)(lua_Integer)v)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
}

static void push_number(lua_State *L, reader *r) {
    unsigned b = next(r);
    if (b & 1) lua_pushnumber(L, numbers[(b >> 1) % NNUMBERS]);
    else lua_pushnumber(L, ((double)(b >> 1) - 64.0) / 8.0);
}

static void push_arg(lua_State *L, reader *r, int depth) {
    unsigned kind = next(r) % 14, i, n;
    luaL_checkstack(L, 4, "fuzz driver");
    switch (kind) {
    case 0: lua_pushnil(L); break;
    case 1: case 2: case 3: case 4: push_pool(L, r); break;
    case 5: lua_pushinteger(L, (lua_Integer)(next(r) % 16) - 4); break;
    case 6: push_number(L, r); break;
    case 7: lua_pushstring(L, strings[next(r) % NSTRINGS]); break;
    case 8:   /* a shape: {d1, ..., dk} */
        n = next(r) % 10;
        lua_createtable(L, (int)n, 0);
        for (i = 1; i <= n; i++) {
            push_dim(L, r);
            lua_rawseti(L, -2, i);
        }
        break;
    case 9: {   /* nested numbers for sy.tensor, ragged when the flag says so */
        unsigned rows = next(r) % 4, cols = next(r) % 4, flags = next(r), j;
        lua_createtable(L, (int)rows, 0);
        for (i = 1; i <= rows; i++) {
            unsigned c = (flags & 1) ? next(r) % 4 : cols;
            lua_createtable(L, (int)c, 0);
            for (j = 1; j <= c; j++) {
                if (flags & 2) lua_pushboolean(L, next(r) & 1);
                else push_number(L, r);
                lua_rawseti(L, -2, j);
            }
            lua_rawseti(L, -2, i);
        }
        if (flags & 4) {   /* a flat list instead of rows */
            lua_pop(L, 1);
            lua_createtable(L, (int)rows, 0);
            for (i = 1; i <= rows + cols; i++) {
                push_number(L, r);
                lua_rawseti(L, -2, i);
            }
        }
        break;
    }
    case 10:   /* a list of pool values (tensors for cat/stack, parameter lists) */
        n = next(r) % 5;
        lua_createtable(L, (int)n, 0);
        for (i = 1; i <= n; i++) {
            if (depth < 2 && (next(r) & 3) == 0) push_arg(L, r, depth + 1);
            else push_pool(L, r);
            lua_rawseti(L, -2, i);
        }
        break;
    case 11:   /* an options table: dictionary keys, any values */
        n = next(r) % 4;
        lua_createtable(L, 0, (int)n);
        for (i = 0; i < n; i++) {
            const char *key = strings[next(r) % NSTRINGS];
            if (depth < 2) push_arg(L, r, depth + 1);
            else push_pool(L, r);
            lua_setfield(L, -2, key);
        }
        break;
    case 12: lua_pushboolean(L, next(r) & 1); break;
    default: push_dim(L, r); break;
    }
}

/* Pushes the function named "name" or "table.name" from sy. */
static void push_function(lua_State *L, const char *name) {
    const char *dot = strchr(name, '.');
    lua_getglobal(L, "sy");
    if (dot) {
        lua_pushlstring(L, name, (size_t)(dot - name));
        lua_gettable(L, -2);
        lua_getfield(L, -1, dot + 1);
        lua_replace(L, -3);
        lua_pop(L, 1);
    } else {
        lua_getfield(L, -1, name);
        lua_replace(L, -2);
    }
}

static void check_error(lua_State *L, const char *what) {
    const char *msg = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING || msg[0] == '\0') {
        fprintf(stderr, "fuzz_lua_api: %s raised a %s instead of a message\n", what, luaL_typename(L, -1));
        abort();
    }
}

/* One step: a callable, its arguments, the call, the results into the pool. */
static void step(lua_State *L, reader *r) {
    unsigned op = next(r) % 8, nargs, i, dest;
    int base = lua_gettop(L), nres;
    const char *what;
    if (op < 3) {
        what = func_names[(next(r) | next(r) << 8) % (unsigned)nfuncs];
        push_function(L, what);
    } else if (op < 6) {
        /* From the methods table, so that self may be any value. */
        what = method_names[(next(r) | next(r) << 8) % (unsigned)nmethods];
        luaL_getmetatable(L, SYLUA_TENSOR_MT);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, what);
        lua_replace(L, -3);
        lua_pop(L, 1);
        push_pool(L, r);   /* self */
    } else {
        what = "helper";
        lua_geti(L, HELPERS_IDX, (lua_Integer)(next(r) % (unsigned)luaL_len(L, HELPERS_IDX)) + 1);
    }
    nargs = next(r) % MAX_ARGS;
    for (i = 0; i < nargs; i++) push_arg(L, r, 0);
    nargs = (unsigned)(lua_gettop(L) - base - 1);   /* self counts as an argument */
    dest = next(r) % POOL;
    if (lua_pcall(L, (int)nargs, LUA_MULTRET, 0) != LUA_OK) {
        check_error(L, what);
        lua_settop(L, base);
        return;
    }
    nres = lua_gettop(L) - base;
    for (i = 0; i < (unsigned)nres && i < 3; i++) {
        if (lua_isnil(L, base + 1 + (int)i)) continue;
        lua_pushvalue(L, base + 1 + (int)i);
        lua_seti(L, POOL_IDX, (lua_Integer)((dest + i) % POOL) + 1);
    }
    lua_settop(L, base);
}

/* Protected: pool and helpers from the prelude, then the steps. */
static int run_program(lua_State *L) {
    reader *r = lua_touserdata(L, 1);
    int n;
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=prelude", "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, 2);
    for (n = 0; n < MAX_STEPS && r->p < r->end; n++) step(L, r);
    return 0;
}

static int run_text(lua_State *L) {
    const char *chunk = lua_touserdata(L, 1);
    size_t len = (size_t)lua_tointeger(L, 2);
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=prelude", "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, 0);
    if (luaL_loadbufferx(L, chunk, len, "=input", "t") != LUA_OK) return 0;   /* syntax errors are fine */
    insn_ticks = 0;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    lua_pcall(L, 0, 0, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t baseline = sy_mem_in_use();
    reader r = {data, data + size};
    lua_State *L;
    int st, home = open(".", O_RDONLY | O_DIRECTORY);
    /* Inside the private directory only while the input runs: libFuzzer
    ** resolves its own relative paths (corpus, artifacts) from the start one. */
    if (home < 0 || chdir(fuzz_dir) != 0) abort();
    empty_dir();
    fuzz_write_file("f.csv", (const uint8_t *)csv_file, sizeof csv_file - 1);
    sy_mem_fail_after(0);   /* a previous input may have armed sy._fail_alloc_after */
    lua_used = 0;
    L = new_state();
    if (!L) abort();
    if (size >= 2 && data[0] == '-' && data[1] == '-') {
        lua_pushcfunction(L, run_text);
        lua_pushlightuserdata(L, (void *)data);
        lua_pushinteger(L, (lua_Integer)size);
        st = lua_pcall(L, 2, 0, 0);
    } else {
        lua_pushcfunction(L, run_program);
        lua_pushlightuserdata(L, &r);
        st = lua_pcall(L, 1, 0, 0);
    }
    /* Only a memory error may stop the driver itself (the prelude or a pool
    ** table ran out of Lua's budget). */
    if (st != LUA_OK && st != LUA_ERRMEM) {
        fprintf(stderr, "fuzz_lua_api: the driver failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    sy_mem_fail_after(0);
    lua_close(L);
    fuzz_check_no_leak(baseline, "the Lua program");
    if (fchdir(home) != 0) abort();
    close(home);
    return 0;
}
