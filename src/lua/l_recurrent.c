/*
** l_recurrent.c -- the recurrent layers' functional forms at the Lua face:
**   sy.rnn_tanh(x, w_ih, w_hh [, b_ih, b_hh [, h0]]) -> out, h_n
**   sy.lstm(x, w_ih, w_hh [, b_ih, b_hh [, h0, c0]]) -> out, h_n, c_n
**   sy.gru(x, w_ih, w_hh [, b_ih, b_hh [, h0]])      -> out, h_n
** One layer, batch first: x [B, T, D]; PyTorch's weight layouts
** (weight_ih_l0 [gates*H, D], ...); biases nil for bias=false; h0 and c0 are
** one layer's [B, H] state (not PyTorch's [layers, B, H]), nil for zeros.
** Shapes and dtypes are checked by the core (src/autograd/recurrent_grad.c).
*/
#include "../autograd/recurrent_grad.h"
#include "sylua.h"

static sy_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : sylua_checktensor(L, idx);
}

static int l_rnn_tanh(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), *w_ih = sylua_checktensor(L, 2);
    sy_tensor *w_hh = sylua_checktensor(L, 3), *b_ih = opt_tensor(L, 4);
    sy_tensor *b_hh = opt_tensor(L, 5), *h0 = opt_tensor(L, 6);
    sy_tensor **out = sylua_newbox(L), **h_n = sylua_newbox(L);
    sylua_check(L, sy_ag_rnn_tanh(out, h_n, x, h0, w_ih, w_hh, b_ih, b_hh));
    sylua_account(L, -2);
    return 2;
}

static int l_lstm(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), *w_ih = sylua_checktensor(L, 2);
    sy_tensor *w_hh = sylua_checktensor(L, 3), *b_ih = opt_tensor(L, 4);
    sy_tensor *b_hh = opt_tensor(L, 5), *h0 = opt_tensor(L, 6), *c0 = opt_tensor(L, 7);
    sy_tensor **out = sylua_newbox(L), **h_n = sylua_newbox(L), **c_n = sylua_newbox(L);
    sylua_check(L, sy_ag_lstm(out, h_n, c_n, x, h0, c0, w_ih, w_hh, b_ih, b_hh));
    sylua_account(L, -3);
    return 3;
}

static int l_gru(lua_State *L) {
    sy_tensor *x = sylua_checktensor(L, 1), *w_ih = sylua_checktensor(L, 2);
    sy_tensor *w_hh = sylua_checktensor(L, 3), *b_ih = opt_tensor(L, 4);
    sy_tensor *b_hh = opt_tensor(L, 5), *h0 = opt_tensor(L, 6);
    sy_tensor **out = sylua_newbox(L), **h_n = sylua_newbox(L);
    sylua_check(L, sy_ag_gru(out, h_n, x, h0, w_ih, w_hh, b_ih, b_hh));
    sylua_account(L, -2);
    return 2;
}

static const luaL_Reg funcs[] = {
    {"rnn_tanh", l_rnn_tanh}, {"lstm", l_lstm}, {"gru", l_gru}, {NULL, NULL}};

void sylua_open_recurrent(lua_State *L) { sylua_register(L, funcs, SYLUA_FUNCTION); }
