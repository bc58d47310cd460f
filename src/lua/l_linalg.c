/* l_linalg.c -- (being written) */
#include "sylua.h"

void sylua_open_linalg(lua_State *L) { (void)L; }
