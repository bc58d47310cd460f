/* l_index.c -- (being written) */
#include "sylua.h"

void sylua_open_index(lua_State *L) { (void)L; }
