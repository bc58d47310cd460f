/* l_random.c -- (being written) */
#include "sylua.h"

void sylua_open_random(lua_State *L) { (void)L; }
