/* lua_loop: N iterations of a Lua loop (table updates, integer arithmetic, number to
 * string conversion and the garbage collector behind it) in Debian's static Lua 5.4,
 * for the mca cycle model's validation (benchmarks/uarch_validate.py). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

static const char *const SCRIPT =
    "local n = tonumber(...)\n"
    "local acc, t = 0, {}\n"
    "for i = 1, n do\n"
    "  local k = (i * 7919) % 4096\n"
    "  t[k] = (t[k] or 0) + i\n"
    "  acc = (acc + t[k] * 3 + #tostring(k)) % 1000003\n"
    "end\n"
    "print(acc)\n";

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, SCRIPT) != LUA_OK)
        return 1;
    lua_pushstring(L, argc > 1 ? argv[1] : "1000");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_close(L);
    return 0;
}
