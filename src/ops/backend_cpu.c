/*
** backend_cpu.c -- the CPU op table and device lookup.
*/
#include "../core/backend.h"
#include "cpu.h"

const sy_backend sy_backend_cpu = {
    .name = "cpu",
    .binary = sy_cpu_binary,
    .unary = sy_cpu_unary,
    .clamp = sy_cpu_clamp,
    .where = sy_cpu_where,
    .bmm = sy_cpu_bmm,
    .reduce_dim = sy_cpu_reduce_dim,
};

const sy_backend *sy_backend_for(sy_device device) {
    if (device == SY_CPU) return &sy_backend_cpu;
    sy_error(SY_ERR_DEVICE, "device %s is not available in this build (configure with SYNLUA_CUDA=ON)",
             device == SY_CUDA ? "cuda" : "unknown");
    return NULL;
}
