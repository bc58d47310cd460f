/*
** l_data.c -- the C half of sy.data: the CSV reader and the calendar helpers.
** These are internal (underscore names); lua/synlua/data wraps them into
** frames.
**
**   sy._read_csv(path [, opts]) -> {names = {...}, kinds = {...},
**                                   columns = {...}, rows = n, delimiter = ","}
**   sy._datetime_parts(seconds) -> [n, 7] float64
**   sy._fill_gaps(t, "forward" | "backward" | "mean") -> number filled (in place)
**   sy._parse_number(s [, decimal]), sy._parse_datetime(s [, dayfirst]),
**   sy._parse_time(s) -> number or nil
*/
#include <string.h>

#include "../io/csv.h"
#include "sylua.h"

#define SYLUA_CSVTABLE_MT "synlua.CsvTable"

static const char *const csv_option_names[] = {"delimiter", "decimal", "quote", "header", "dayfirst",
                                               "na", "default_na", "types", "infer_rows", "nrows",
                                               NULL};

/* A one-character option; "tab" and "auto" (0) are accepted for delimiter. */
static char opt_char(lua_State *L, const char *key, char def, int allow_auto) {
    size_t len;
    const char *s;
    char c = def;
    lua_getfield(L, 2, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1)));
        s = lua_tolstring(L, -1, &len);
        if (allow_auto && strcmp(s, "auto") == 0) c = 0;
        else if (allow_auto && strcmp(s, "tab") == 0) c = '\t';
        else if (len == 1) c = s[0];
        else
            luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be one character%s, got '%s'", key,
                                                allow_auto ? " (or \"tab\", \"auto\")" : "", s));
    }
    lua_pop(L, 1);
    return c;
}

static int opt_bool(lua_State *L, const char *key, int def) {
    int v = def;
    lua_getfield(L, 2, key);
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1))
            luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be a boolean, got %s", key, luaL_typename(L, -1)));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int64_t opt_count(lua_State *L, const char *key, int64_t def) {
    int64_t v = def;
    lua_getfield(L, 2, key);
    if (!lua_isnil(L, -1)) {
        int isint;
        lua_Integer x = lua_tointegerx(L, -1, &isint);
        if (!isint || x < 1)
            luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be a positive integer", key));
        v = (int64_t)x;
    }
    lua_pop(L, 1);
    return v;
}

/* opts.na: strings match whole fields, numbers match values. The strings
** stay alive in the options table for the whole call; the arrays live in a
** userdata left on the stack. */
static void opt_na(lua_State *L, sy_csv_options *o) {
    lua_Integer n, i;
    int ns = 0, nn = 0;
    const char **strs;
    double *nums;
    lua_getfield(L, 2, "na");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {  /* one marker */
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    }
    if (!lua_istable(L, -1))
        luaL_argerror(L, 2, lua_pushfstring(L, "option 'na' must be a list of strings and numbers, got %s",
                                            luaL_typename(L, -1)));
    n = luaL_len(L, -1);
    strs = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *strs, 0);
    nums = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *nums, 0);
    for (i = 1; i <= n; i++) {
        lua_geti(L, -3, i);
        if (lua_type(L, -1) == LUA_TNUMBER) {
            nums[nn++] = lua_tonumber(L, -1);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            strs[ns++] = lua_tostring(L, -1);
        } else {
            luaL_argerror(L, 2, lua_pushfstring(L, "option 'na' entry %d is a %s, expected a string or a number",
                                                (int)i, luaL_typename(L, -1)));
        }
        lua_pop(L, 1);
    }
    o->na = strs;
    o->n_na = ns;
    o->na_numbers = nums;
    o->n_na_numbers = nn;
    /* leaves the list and the two arrays on the stack */
}

static void opt_types(lua_State *L, sy_csv_options *o) {
    int n = 0, i = 0;
    const char **names;
    sy_csv_kind *kinds;
    lua_getfield(L, 2, "types");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_argerror(L, 2, lua_pushfstring(L, "option 'types' must be a table of column = kind, got %s",
                                            luaL_typename(L, -1)));
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        n++;
        lua_pop(L, 1);
    }
    names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
    kinds = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *kinds, 0);
    lua_pushnil(L);
    while (lua_next(L, -4)) {
        const char *kind = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_argerror(L, 2, "option 'types' keys must be column names");
        if (!sy_csv_kind_from_name(kind, &kinds[i]))
            luaL_argerror(L, 2, lua_pushfstring(L, "types: kind of column '%s' must be \"number\", \"datetime\", "
                                                   "\"time\" or \"text\", got %s",
                                                lua_tostring(L, -2), luaL_tolstring(L, -1, NULL)));
        names[i++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    o->type_names = names;
    o->types = kinds;
    o->n_types = n;
}

static void check_options(lua_State *L, sy_csv_options *o) {
    int known, k;
    sy_csv_options_init(o);
    if (lua_isnoneornil(L, 2)) return;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        known = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (k = 0; csv_option_names[k]; k++)
                if (strcmp(lua_tostring(L, -2), csv_option_names[k]) == 0) known = 1;
        if (!known)
            luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s' (known: delimiter, decimal, quote, header, "
                                                   "dayfirst, na, default_na, types, infer_rows, nrows)",
                                                luaL_tolstring(L, -2, NULL)));
        lua_pop(L, 1);
    }
    o->delimiter = opt_char(L, "delimiter", 0, 1);
    o->decimal = opt_char(L, "decimal", '.', 0);
    o->quote = opt_char(L, "quote", '"', 0);
    if (o->decimal != '.' && o->decimal != ',')
        luaL_argerror(L, 2, lua_pushfstring(L, "option 'decimal' must be \".\" or \",\", got '%c'", o->decimal));
    o->header = opt_bool(L, "header", 1);
    o->dayfirst = opt_bool(L, "dayfirst", 1);
    o->default_na = opt_bool(L, "default_na", 1);
    o->infer_rows = opt_count(L, "infer_rows", o->infer_rows);
    o->max_rows = opt_count(L, "nrows", -1);
    opt_na(L, o);
    opt_types(L, o);
}

static int csvtable_gc(lua_State *L) {
    sy_csv_table **t = luaL_checkudata(L, 1, SYLUA_CSVTABLE_MT);
    sy_csv_free(*t);
    *t = NULL;
    return 0;
}

static int l_read_csv(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    sy_csv_options opt;
    sy_csv_table **holder, *t;
    char delim[2];
    int j;
    lua_settop(L, 2);
    check_options(L, &opt);
    /* The holder frees the table if a Lua error strikes while it is pushed. */
    holder = lua_newuserdatauv(L, sizeof *holder, 0);
    *holder = NULL;
    luaL_setmetatable(L, SYLUA_CSVTABLE_MT);
    sylua_check(L, sy_csv_read(holder, path, &opt));
    t = *holder;
    lua_createtable(L, 0, 5);
    lua_createtable(L, t->ncols, 0);
    for (j = 0; j < t->ncols; j++) {
        lua_pushstring(L, t->cols[j].name);
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "names");
    lua_createtable(L, t->ncols, 0);
    for (j = 0; j < t->ncols; j++) {
        lua_pushstring(L, sy_csv_kind_name(t->cols[j].kind));
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "kinds");
    lua_createtable(L, t->ncols, 0);
    for (j = 0; j < t->ncols; j++) {
        sy_csv_column *c = &t->cols[j];
        if (c->kind == SY_CSV_TEXT) {
            int64_t i;
            lua_createtable(L, (int)(t->nrows < 0x7fffffff ? t->nrows : 0), 0);
            for (i = 0; i < t->nrows; i++) {
                if (c->text_offset[i] < 0) lua_pushboolean(L, 0);
                else lua_pushstring(L, c->text + c->text_offset[i]);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
        } else {
            sy_tensor **slot = sylua_newbox(L);
            *slot = c->values;
            c->values = NULL;
            sylua_account(L, -1);
        }
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "columns");
    lua_pushinteger(L, (lua_Integer)t->nrows);
    lua_setfield(L, -2, "rows");
    delim[0] = t->delimiter;
    delim[1] = '\0';
    lua_pushstring(L, delim);
    lua_setfield(L, -2, "delimiter");
    return 1;
}

/* sy._datetime_parts(seconds) -> [n, 7]: day, month, ISO week, year, quarter,
** day of week (Monday 0), is-weekend. */
static int l_datetime_parts(lua_State *L) {
    sy_tensor *t = sylua_checktensor(L, 1);
    sy_tensor **slot;
    if (t->ndim != 1 || t->dtype != SY_F64)
        luaL_argerror(L, 1, lua_pushfstring(L, "expected a 1-d float64 tensor of seconds, got %d-d %s", t->ndim,
                                            sy_dtype_name(t->dtype)));
    slot = sylua_newbox(L);
    sylua_check(L, sy_datetime_parts(slot, t));
    sylua_account(L, -1);
    return 1;
}

/* sy._fill_gaps(t, "forward" | "backward" | "mean") -> count: fills the NaN
** of a 1-d float64 tensor in place. */
static int l_fill_gaps(lua_State *L) {
    static const char *const methods[] = {"forward", "backward", "mean", NULL};
    sy_tensor *t = sylua_checktensor(L, 1);
    int m = luaL_checkoption(L, 2, NULL, methods);
    int64_t filled;
    if (t->ndim != 1 || t->dtype != SY_F64)
        luaL_argerror(L, 1, lua_pushfstring(L, "expected a 1-d float64 tensor, got %d-d %s", t->ndim,
                                            sy_dtype_name(t->dtype)));
    sylua_check(L, sy_column_fill(t, (sy_fill_method)m, &filled));
    lua_pushinteger(L, (lua_Integer)filled);
    return 1;
}

static int push_parsed(lua_State *L, int ok, double v) {
    if (ok) lua_pushnumber(L, v);
    else lua_pushnil(L);
    return 1;
}

static int l_parse_number(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *dec = luaL_optstring(L, 2, ".");
    double v = 0;
    luaL_argcheck(L, strcmp(dec, ".") == 0 || strcmp(dec, ",") == 0, 2, "decimal must be \".\" or \",\"");
    int ok = sy_csv_parse_number(s, n, dec[0], &v);
    return push_parsed(L, ok, v);
}

static int l_parse_datetime(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    int dayfirst = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    double v = 0;
    int ok = sy_csv_parse_datetime(s, n, dayfirst, &v);
    return push_parsed(L, ok, v);
}

static int l_parse_time(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    double v = 0;
    int ok = sy_csv_parse_time(s, n, &v);
    return push_parsed(L, ok, v);
}

static const luaL_Reg funcs[] = {{"_read_csv", l_read_csv},
                                 {"_datetime_parts", l_datetime_parts},
                                 {"_fill_gaps", l_fill_gaps},
                                 {"_parse_number", l_parse_number},
                                 {"_parse_datetime", l_parse_datetime},
                                 {"_parse_time", l_parse_time},
                                 {NULL, NULL}};

void sylua_open_data(lua_State *L) {
    if (luaL_newmetatable(L, SYLUA_CSVTABLE_MT)) {
        lua_pushcfunction(L, csvtable_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    sylua_setfuncs(L, funcs);
}
