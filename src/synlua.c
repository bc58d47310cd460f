/*
** synlua.c -- the synlua interpreter: lua(1) with the synlua module preloaded.
**
**   synlua [options] [script [args]]
**
** Options follow lua(1): -e stat (several run in order), -i (REPL after the
** script), -v (version), -- (stop handling options), - (run stdin). The
** global `arg` holds the script name at 0, its arguments at 1..n and the
** interpreter and options at negative indices.
**
** Before running anything the standard libraries are opened, synlua.core is
** registered in package.preload (it is linked in, so a stray core.so on
** LUA_CPATH is never loaded next to it), the directory holding synlua's Lua
** files is put first on package.path, and `require "synlua"` runs once.
**
** Every chunk runs under lua_pcall with a message handler that appends a
** traceback; an uncaught error prints "synlua: <message>" to stderr and the
** exit status is 1.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua/sylua.h"
#include "synlua_version.h"

#define PROGNAME "synlua"

/* Where <prefix>/share/lua/5.4 lies relative to the directory of the
** installed executable (or an absolute path); set by CMakeLists.txt. */
#ifndef SYNLUA_INSTALL_LUA_DIR
#define SYNLUA_INSTALL_LUA_DIR "../share/lua/5.4"
#endif

enum { OPT_E = 1, OPT_I = 2, OPT_V = 4 };

/* The state a SIGINT interrupts; set before every protected call. */
static lua_State *interrupt_state = NULL;

/* ---- messages and protected calls ------------------------------------- */

static void print_message(const char *msg) {
    fprintf(stderr, "%s: %s\n", PROGNAME, msg);
    fflush(stderr);
}

static void print_version(void) {
    printf("%s %s (%s)\n", PROGNAME, SYNLUA_VERSION, LUA_RELEASE);
    fflush(stdout);
}

static void print_usage(const char *bad) {
    if (strcmp(bad, "-e") == 0)
        fprintf(stderr, "%s: '%s' needs an argument\n", PROGNAME, bad);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", PROGNAME, bad);
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -v        show version information\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n",
            PROGNAME);
    fflush(stderr);
}

/* Prints and pops the error message left by a failed load or call. */
static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        print_message(msg != NULL ? msg : "(error object is not a string)");
        lua_pop(L, 1);
    }
    return status;
}

/* Message handler: turns the error object into a message with a traceback. */
static int message_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        /* An error object with __tostring speaks for itself. */
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Raised from the hook that the SIGINT handler installs: the hook runs at
** the next Lua instruction, where raising an error is safe. */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void set_sigint(void (*handler)(int)) {
    struct sigaction sa;
    sa.sa_handler = handler;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static void on_sigint(int sig) {
    (void)sig;
    set_sigint(SIG_DFL); /* a second Ctrl-C ends the process */
    lua_sethook(interrupt_state, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* Calls the function below nargs arguments with the traceback handler and
** Ctrl-C turned into a Lua error. */
static int docall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    int status;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    interrupt_state = L;
    set_sigint(on_sigint);
    status = lua_pcall(L, nargs, nresults, base);
    set_sigint(SIG_DFL);
    lua_remove(L, base);
    return status;
}

static int run_string(lua_State *L, const char *chunk, const char *name) {
    int status = luaL_loadbuffer(L, chunk, strlen(chunk), name);
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
}

/* ---- set-up ------------------------------------------------------------ */

/* arg[0] is the script (argv[0] when there is none), arg[1..] its arguments,
** the interpreter and options go to negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
    int i;
    lua_createtable(L, argc > script ? argc - script - 1 : 0, script + 1);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* Pushes the directory holding synlua/init.lua: the installed copy beside
** the executable when there is one, else the checkout it was built from. */
static void push_lua_dir(lua_State *L) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
    char *slash;
    if (n > 0 && (size_t)n < sizeof exe) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (SYNLUA_INSTALL_LUA_DIR[0] == '/')
                lua_pushliteral(L, SYNLUA_INSTALL_LUA_DIR);
            else
                lua_pushfstring(L, "%s/%s", exe, SYNLUA_INSTALL_LUA_DIR);
            lua_pushfstring(L, "%s/synlua/init.lua", lua_tostring(L, -1));
            if (access(lua_tostring(L, -1), R_OK) == 0) {
                lua_pop(L, 1);
                return;
            }
            lua_pop(L, 2);
        }
    }
    lua_pushliteral(L, SYNLUA_SOURCE_LUA_DIR);
}

/* Registers the linked-in C module, puts synlua's Lua files first on
** package.path and loads the module once. */
static int open_synlua(lua_State *L) {
    const char *dir;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_synlua_core);
    lua_setfield(L, -2, "synlua.core");
    lua_pop(L, 1);

    lua_getglobal(L, "package");
    push_lua_dir(L);
    dir = lua_tostring(L, -1);
    lua_getfield(L, -2, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -4, "path");
    lua_pop(L, 3);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "synlua");
    return report(L, docall(L, 1, 0));
}

/* ---- command line ------------------------------------------------------ */

/* Checks the options; returns their OPT_ flags, or -1 with *bad set. *script
** is the index of the script in argv, 0 if there is none. */
static int collect_args(char **argv, int argc, int *script, const char **bad) {
    int flags = 0, i;
    *script = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            *script = i;
            return flags;
        }
        if (strcmp(a, "--") == 0) {
            *script = i + 1 < argc ? i + 1 : 0;
            return flags;
        }
        if (strcmp(a, "-i") == 0) {
            flags |= OPT_I;
        } else if (strcmp(a, "-v") == 0) {
            flags |= OPT_V;
        } else if (a[1] == 'e') {
            /* -e stat or -estat */
            if (a[2] == '\0' && ++i >= argc) {
                *bad = a;
                return -1;
            }
            flags |= OPT_E;
        } else {
            *bad = a;
            return -1;
        }
    }
    return flags;
}

/* Runs the -e chunks among argv[1..n-1] in order; 0 when one fails. */
static int run_e_options(lua_State *L, char **argv, int n) {
    int i;
    for (i = 1; i < n; i++) {
        if (argv[i][0] == '-' && argv[i][1] == 'e') {
            const char *chunk = argv[i][2] != '\0' ? argv[i] + 2 : argv[++i];
            if (run_string(L, chunk, "=(command line)") != LUA_OK) return 0;
        }
    }
    return 1;
}

/* Runs the file fname (stdin when NULL) with args[0..nargs-1] as its `...`. */
static int run_file(lua_State *L, const char *fname, char **args, int nargs) {
    int i, status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        luaL_checkstack(L, nargs, "too many arguments to script");
        for (i = 0; i < nargs; i++) lua_pushstring(L, args[i]);
        status = docall(L, nargs, 0);
    }
    return report(L, status);
}

/* Runs argv[script]: "-" means stdin unless it follows "--". */
static int run_script(lua_State *L, char **argv, int argc, int script) {
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
    return run_file(L, fname, argv + script + 1, argc - script - 1);
}

/* ---- the REPL ---------------------------------------------------------- */

/* Reads one line of any length and pushes it without its newline; pushes
** nothing and returns 0 at the end of input. */
static int push_line(lua_State *L, int first, int interactive) {
    luaL_Buffer b;
    int got = 0;
    if (interactive) {
        fputs(first ? "> " : ">> ", stdout);
        fflush(stdout);
    }
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        size_t len;
        if (fgets(p, LUAL_BUFFERSIZE, stdin) == NULL) break;
        got = 1;
        len = strlen(p);
        luaL_addsize(&b, len);
        if (len > 0 && p[len - 1] == '\n') {
            luaL_buffsub(&b, 1);
            break;
        }
    }
    luaL_pushresult(&b);
    if (!got) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Compiles "return <line>;" so that an expression shows its value. Leaves
** the function above the line on success, nothing on failure. */
static int load_as_expression(lua_State *L) {
    const char *chunk = lua_pushfstring(L, "return %s;", lua_tostring(L, 1));
    int status = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
    if (status == LUA_OK)
        lua_remove(L, -2);
    else
        lua_pop(L, 2);
    return status;
}

/* A syntax error that ends at <eof> means the statement goes on. */
static int is_incomplete(lua_State *L, int status) {
    static const char mark[] = "<eof>";
    size_t len, mlen = sizeof mark - 1;
    const char *msg;
    if (status != LUA_ERRSYNTAX) return 0;
    msg = lua_tolstring(L, -1, &len);
    return len >= mlen && strcmp(msg + len - mlen, mark) == 0;
}

/* Compiles the source at index 1 as a statement, reading continuation lines
** while it is incomplete. Leaves the function or the error message on top. */
static int load_statement(lua_State *L, int interactive) {
    for (;;) {
        size_t len;
        const char *src = lua_tolstring(L, 1, &len);
        int status = luaL_loadbuffer(L, src, len, "=stdin");
        if (!is_incomplete(L, status) || !push_line(L, 0, interactive)) return status;
        lua_remove(L, -2); /* the syntax error */
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3); /* source .. "\n" .. next line */
    }
}

/* Reads and compiles one statement; -1 at the end of input. On return the
** function or the error message is the only value on the stack. */
static int read_statement(lua_State *L, int interactive) {
    int status;
    lua_settop(L, 0);
    if (!push_line(L, 1, interactive)) return -1;
    status = load_as_expression(L);
    if (status != LUA_OK) status = load_statement(L, interactive);
    lua_remove(L, 1);
    return status;
}

/* Prints the values on the stack with the global print. */
static void print_results(lua_State *L) {
    int n = lua_gettop(L);
    if (n == 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        print_message(lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

/* Prompts only on a terminal, so piped input gives just the values. */
static void run_repl(lua_State *L) {
    int interactive = isatty(STDIN_FILENO);
    int status;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_getfield(L, -1, "synlua");
    lua_setglobal(L, "sy");
    while ((status = read_statement(L, interactive)) != -1) {
        if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK)
            print_results(L);
        else
            report(L, status);
    }
    lua_settop(L, 0);
    if (interactive) {
        fputc('\n', stdout);
        fflush(stdout);
    }
}

/* ---- main -------------------------------------------------------------- */

/* Runs protected, so that even a memory error during set-up is reported.
** Returns true when everything ran without error. */
static int protected_main(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    const char *bad = NULL;
    int script, flags = collect_args(argv, argc, &script, &bad);
    if (flags < 0) {
        print_usage(bad);
        return 0;
    }
    luaL_checkversion(L);
    luaL_openlibs(L);
    create_arg_table(L, argv, argc, script);
    if (open_synlua(L) != LUA_OK) return 0;
    /* -i shows the banner only to a person at a terminal. */
    if ((flags & OPT_V) || ((flags & OPT_I) && isatty(STDIN_FILENO))) print_version();
    if (!run_e_options(L, argv, script > 0 ? script : argc)) return 0;
    if (script > 0 && run_script(L, argv, argc, script) != LUA_OK) return 0;
    if (flags & OPT_I) {
        run_repl(L);
    } else if (script == 0 && !(flags & (OPT_E | OPT_V))) {
        /* Plain `synlua`: a REPL on a terminal, else run what stdin holds. */
        if (isatty(STDIN_FILENO)) {
            print_version();
            run_repl(L);
        } else if (run_file(L, NULL, NULL, 0) != LUA_OK) {
            return 0;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    int status, ok;
    if (L == NULL) {
        print_message("cannot create the Lua state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, protected_main);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    status = lua_pcall(L, 2, 1, 0);
    ok = status == LUA_OK && lua_toboolean(L, -1);
    report(L, status);
    lua_close(L);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
