/* l_reduce.c -- (being written) */
#include "sylua.h"

void sylua_open_reduce(lua_State *L) { (void)L; }
