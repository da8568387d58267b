/* A Lua n-body simulation (the Computer Language Benchmarks Game's algorithm) in an
 * embedded Lua interpreter: the real program that printed wrong digits under musl
 * when a coffer started the x87 unit at 24-bit precision. Built with musl-gcc
 * against Debian's liblua5.4.a and printed the same natively and in a coffer
 * (tests/test_cpu_state.py). Lua's number formatting goes through the C library's
 * printf (musl's, which formats with long double arithmetic). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef __GLIBC__
/* Debian compiles liblua5.4.a against glibc with _FORTIFY_SOURCE, which calls these
 * four checked entry points; under musl they forward to the plain functions (the
 * jmp_buf layouts of the two libraries have the same size). */
void __longjmp_chk(jmp_buf env, int value) { longjmp(env, value); }
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t room) {
    (void)room;
    return memcpy(dst, src, n);
}
int __snprintf_chk(char *s, size_t n, int flag, size_t room, const char *format, ...) {
    (void)flag; (void)room;
    va_list args;
    va_start(args, format);
    int written = vsnprintf(s, n, format, args);
    va_end(args);
    return written;
}
int __fprintf_chk(FILE *stream, int flag, const char *format, ...) {
    (void)flag;
    va_list args;
    va_start(args, format);
    int written = vfprintf(stream, format, args);
    va_end(args);
    return written;
}
#endif

static const char *const NBODY =
    "local sqrt = math.sqrt\n"
    "local PI = math.pi\n"
    "local SOLAR_MASS = 4 * PI * PI\n"
    "local DAYS_PER_YEAR = 365.24\n"
    "local function body(x, y, z, vx, vy, vz, mass)\n"
    "  return {x = x, y = y, z = z, vx = vx * DAYS_PER_YEAR, vy = vy * DAYS_PER_YEAR,\n"
    "          vz = vz * DAYS_PER_YEAR, mass = mass * SOLAR_MASS}\n"
    "end\n"
    "local bodies = {\n"
    "  body(0, 0, 0, 0, 0, 0, 1),\n"
    "  body(4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,\n"
    "       1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,\n"
    "       9.54791938424326609e-04),\n"
    "  body(8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,\n"
    "       -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,\n"
    "       2.85885980666130812e-04),\n"
    "  body(1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,\n"
    "       2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,\n"
    "       4.36624404335156298e-05),\n"
    "  body(1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,\n"
    "       2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,\n"
    "       5.15138902046611451e-05),\n"
    "}\n"
    "local function advance(n, dt)\n"
    "  for i = 1, n do\n"
    "    local bi = bodies[i]\n"
    "    for j = i + 1, n do\n"
    "      local bj = bodies[j]\n"
    "      local dx, dy, dz = bi.x - bj.x, bi.y - bj.y, bi.z - bj.z\n"
    "      local d2 = dx * dx + dy * dy + dz * dz\n"
    "      local mag = dt / (d2 * sqrt(d2))\n"
    "      bi.vx = bi.vx - dx * bj.mass * mag; bj.vx = bj.vx + dx * bi.mass * mag\n"
    "      bi.vy = bi.vy - dy * bj.mass * mag; bj.vy = bj.vy + dy * bi.mass * mag\n"
    "      bi.vz = bi.vz - dz * bj.mass * mag; bj.vz = bj.vz + dz * bi.mass * mag\n"
    "    end\n"
    "  end\n"
    "  for i = 1, n do\n"
    "    local b = bodies[i]\n"
    "    b.x = b.x + dt * b.vx; b.y = b.y + dt * b.vy; b.z = b.z + dt * b.vz\n"
    "  end\n"
    "end\n"
    "local function energy(n)\n"
    "  local e = 0\n"
    "  for i = 1, n do\n"
    "    local bi = bodies[i]\n"
    "    e = e + 0.5 * bi.mass * (bi.vx * bi.vx + bi.vy * bi.vy + bi.vz * bi.vz)\n"
    "    for j = i + 1, n do\n"
    "      local bj = bodies[j]\n"
    "      local dx, dy, dz = bi.x - bj.x, bi.y - bj.y, bi.z - bj.z\n"
    "      e = e - bi.mass * bj.mass / sqrt(dx * dx + dy * dy + dz * dz)\n"
    "    end\n"
    "  end\n"
    "  return e\n"
    "end\n"
    "local px, py, pz = 0, 0, 0\n"
    "for _, b in ipairs(bodies) do\n"
    "  px = px + b.vx * b.mass; py = py + b.vy * b.mass; pz = pz + b.vz * b.mass\n"
    "end\n"
    "local sun = bodies[1]\n"
    "sun.vx, sun.vy, sun.vz = -px / SOLAR_MASS, -py / SOLAR_MASS, -pz / SOLAR_MASS\n"
    "local n = #bodies\n"
    "io.write(string.format('%0.9f', energy(n)), '\\n')\n"
    "for _ = 1, 1000 do advance(n, 0.01) end\n"
    "io.write(string.format('%0.9f', energy(n)), '\\n')\n"
    "print(energy(n), sun.x, 1 / 3, 2 ^ 0.5, 562125.0)\n";

int main(void) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, NBODY) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_close(L);
    return 0;
}
