/*
** sylua.h -- the binding layer's internal API: the only code that knows Lua.
**
** A tensor is a full userdata "box" holding one reference to a core
** sy_tensor. Results are pushed as an empty box *before* the core call fills
** it, so a Lua error raised afterwards never leaks: the GC frees the box.
** Every argument is checked here, and errors name the function, the argument
** and the shapes (luaL_argerror style).
**
** Dimensions and indices are 1-based at the Lua face (negative ones count from
** the end); the core is 0-based.
*/
#ifndef SYLUA_H
#define SYLUA_H

#include <lauxlib.h>
#include <lua.h>

#include "../core/tensor.h"
#include "../ops/ops.h"

#define SYLUA_TENSOR_MT "synlua.Tensor"

typedef struct sylua_box {
    sy_tensor *t;      /* NULL once closed */
    sy_tensor *kept;   /* a closed tensor a binding call may still use; released by __gc */
} sylua_box;

/* The tensor at idx; raises "bad argument #idx (tensor expected, got X)". */
sy_tensor *sylua_checktensor(lua_State *L, int idx);
/* The tensor at idx, or NULL if the value is not a (live) tensor. */
sy_tensor *sylua_totensor(lua_State *L, int idx);
/* luaL_typename, but "closed tensor" for a closed box (for messages). */
const char *sylua_typename(lua_State *L, int idx);
/* Pushes an empty box; fill it with the core call's result. */
sy_tensor **sylua_newbox(lua_State *L);
/* Pushes t, taking over the caller's reference. */
void sylua_pushtensor(lua_State *L, sy_tensor *t);
/* Raises a Lua error with the core's message unless st == SY_OK. After a
** successful call into a box, pass the box's index to account its memory. */
void sylua_check(lua_State *L, sy_status st);
/* Tells the Lua GC about the bytes held by the tensor at idx (call once per
** freshly allocated result). */
void sylua_account(lua_State *L, int idx);
/* Releases a reference that Lua held (a box's tensor, a .grad): what it
** frees is not the core's own, so it does not hide the next call's growth
** from sylua_account. */
void sylua_release(sy_tensor *t);

/* Argument helpers. Dims: 1-based or negative -> 0-based; `extra` allows the
** position one past the end (unsqueeze). */
int sylua_checkdim(lua_State *L, int arg, const sy_tensor *t, int extra);
int sylua_optdim(lua_State *L, int arg, const sy_tensor *t, int def);
/* Sizes given as integers from `arg` on, or as one table: (2,3) or {2,3}. */
int sylua_checksizes(lua_State *L, int arg, int64_t *size);
sy_dtype sylua_checkdtype(lua_State *L, int arg);
sy_dtype sylua_optdtype(lua_State *L, int arg, sy_dtype def);
/* Tensor at idx, or a number turned into a 0-d tensor whose dtype suits
** `other` (the other operand). A converted number is pushed on the stack,
** which keeps it alive; the pointer is borrowed either way. */
sy_tensor *sylua_checkoperand(lua_State *L, int idx, const sy_tensor *other);

/* Every C function that borrows tensors must be registered through one of
** these: they record it as a binding, and closing a tensor while a binding's
** frame is on the stack defers the release (see tensor_close in l_tensor.c).
** Functions that only run Lua code (sy.no_grad) are registered plainly, or
** closing inside them would always be deferred. */
/* lua_pushcfunction(L, f), f recorded as a binding. */
void sylua_pushbinding(lua_State *L, lua_CFunction f);
/* luaL_setfuncs(L, funcs, 0), each recorded as a binding. */
void sylua_setfuncs(lua_State *L, const luaL_Reg *funcs);
/* Registers funcs as module functions (sy.name) and/or tensor methods. */
#define SYLUA_FUNCTION 1
#define SYLUA_METHOD 2
void sylua_register(lua_State *L, const luaL_Reg *funcs, int where);

/* Per-family openers, called from luaopen_synlua_core with the module table
** on top of the stack. */
void sylua_open_tensor(lua_State *L);
void sylua_open_math(lua_State *L);
void sylua_open_reduce(lua_State *L);
void sylua_open_linalg(lua_State *L);
void sylua_open_index(lua_State *L);
void sylua_open_random(lua_State *L);
void sylua_open_io(lua_State *L);
void sylua_open_data(lua_State *L);
void sylua_open_optim(lua_State *L);
void sylua_open_recurrent(lua_State *L);
void sylua_open_layers(lua_State *L);
void sylua_open_attention(lua_State *L);
void sylua_open_prune(lua_State *L);
void sylua_open_testing(lua_State *L);

void sylua_open_autograd(lua_State *L);

/* t.grad, t.grad_fn, t.is_leaf (tensor at 1, key at 2): pushes the value and
** returns 1, or returns 0 for other keys. */
int sylua_autograd_property(lua_State *L);
/* t.grad = g or nil (tensor at 1, value at 3). */
int sylua_set_grad(lua_State *L);

int luaopen_synlua_core(lua_State *L);

#endif
