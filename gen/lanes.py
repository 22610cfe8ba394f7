"""Table lookups eight lanes at a time, for the chaos game's map draw and affine part.

A system has at most 8 maps (``ifs.MAX_MAPS``), so each of its per-map tables (a coefficient
column, the alias table) fits in one 256-bit register, and AVX2's ``vpermps`` looks up eight
points' entries in one instruction. numba's auto-vectorizer does not make that instruction from
``table[k[j]]`` (it emits eight scalar loads, or a slow gather), so ``take8`` writes it in
LLVM IR. Where the code numba compiles has no AVX2 (another architecture, an older x86, or
``NUMBA_CPU_NAME`` naming one), the same intrinsic emits eight scalar loads: the same values.
"""

from __future__ import annotations

import llvmlite.binding as ll
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 8

_PROBE = """
define <8 x i32> @probe(<8 x i32> %a, <8 x i32> %b) {
  %c = mul <8 x i32> %a, %b
  ret <8 x i32> %c
}
"""
_avx2: dict[tuple[str, str, str], bool] = {}


def compiles_avx2(codegen) -> bool:
    """Whether the machine code numba makes with ``codegen`` may use AVX2: its target machine
    multiplies eight 32-bit integers in one ymm register. Asked of LLVM itself, so an
    ``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` override gets the answer its code needs.
    False (the scalar lookups, correct anywhere) where this numba's codegen looks otherwise."""
    try:
        tm = codegen._tm
        key = (tm.triple, codegen._get_host_cpu_name(), codegen._tm_features)
    except AttributeError:
        return False
    if key not in _avx2:
        if not tm.triple.startswith("x86_64"):
            _avx2[key] = False
        else:
            module = ll.parse_assembly(_PROBE)
            module.triple = tm.triple
            asm = tm.emit_assembly(module)
            _avx2[key] = any("vpmulld" in line and "ymm" in line for line in asm.splitlines())
    return _avx2[key]


def code_target() -> tuple[str, str]:
    """(the CPU numba compiles this process's kernels for, how ``take8`` looks up on it:
    "AVX2 permutes" or "scalar loads"), for ``fractalvid info`` and ``make bench``."""
    from numba.core import config
    from numba.core.registry import cpu_target

    name = config.CPU_NAME or ll.get_host_cpu_name()
    avx2 = compiles_avx2(cpu_target.target_context.codegen())
    return name, "AVX2 permutes" if avx2 else "scalar loads"


_I32 = ir.IntType(32)
_V8I32 = ir.VectorType(_I32, LANES)
_V8F32 = ir.VectorType(ir.FloatType(), LANES)


@intrinsic
def take8(typingctx, table, index, start, out):
    """out[r, start:start + 8] = table[r, index[start:start + 8] & 7] for every row r.

    table: [R, 8] float32 or int32 (per-map tables, one a row, padded to 8 maps); index: [...]
    int32; out: [R, ...] of table's dtype. The caller keeps start + 8 within index and out's
    rows. The keys are loaded once for all rows.
    """
    if not (isinstance(table, types.Array) and isinstance(out, types.Array)
            and isinstance(index, types.Array) and index.dtype == types.int32
            and table.ndim == 2 and out.ndim == 2 and index.ndim == 1
            and table.dtype == out.dtype and table.dtype in (types.float32, types.int32)):
        return None
    sig = types.void(table, index, start, out)

    def codegen(context, builder, signature, args):
        tabty, idxty, _, outty = signature.args
        tab = context.make_array(tabty)(context, builder, args[0])
        idx = context.make_array(idxty)(context, builder, args[1])
        dst = context.make_array(outty)(context, builder, args[3])
        at = context.cast(builder, args[2], signature.args[2], types.intp)
        rows = cgutils.unpack_tuple(builder, tab.shape, 2)[0]
        is_float = tabty.dtype == types.float32
        vec = _V8F32 if is_float else _V8I32
        keys = builder.load(builder.bitcast(cgutils.get_item_pointer(context, builder, idxty, idx,
                                                                     [at]),
                                            _V8I32.as_pointer()), align=4)
        keys = builder.and_(keys, ir.Constant(_V8I32, [LANES - 1] * LANES))
        avx2 = compiles_avx2(context.codegen())
        if avx2:
            name = "llvm.x86.avx2.permps" if is_float else "llvm.x86.avx2.permd"
            permute = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, _V8I32]), name)
        else:
            lane_keys = [builder.extract_element(keys, ir.Constant(_I32, lane))
                         for lane in range(LANES)]
        zero = ir.Constant(cgutils.intp_t, 0)
        with cgutils.for_range(builder, rows) as loop:
            row = loop.index
            entries = cgutils.get_item_pointer(context, builder, tabty, tab, [row, zero])
            if avx2:
                picked = builder.call(permute, [
                    builder.load(builder.bitcast(entries, vec.as_pointer()), align=4), keys])
            else:  # eight scalar loads from the table in memory
                picked = ir.Constant(vec, None)
                for lane, k in enumerate(lane_keys):
                    entry = builder.load(cgutils.gep(builder, entries, k))
                    picked = builder.insert_element(picked, entry, ir.Constant(_I32, lane))
            target = cgutils.get_item_pointer(context, builder, outty, dst, [row, at])
            builder.store(picked, builder.bitcast(target, vec.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen
