// Macros for kernel sources compiled once per instruction set (isa.hpp
// explains the scheme).  Macros only: this header is included with
// -mavx2 / -mavx512f, where no inline function may be defined.
#pragma once

#ifndef NEON_ISA
#define NEON_ISA portable
#endif

#define NEON_ISA_STRINGIFY_(x) #x
#define NEON_ISA_STRINGIFY(x) NEON_ISA_STRINGIFY_(x)
// "portable", "avx2" or "avx512": the instruction set of this translation unit.
#define NEON_ISA_NAME NEON_ISA_STRINGIFY(NEON_ISA)

// The return type of a family's table getter: an ordinary (exported)
// definition in the per-ISA translation unit (cpp/neon/isa/F_<isa>.cpp, the
// portable one included); inline only where a header still includes a
// kernel source directly (isa.hpp's NEON_DECLARE_KERNEL_FAMILY accepts both).
#if defined(NEON_ISA_TRANSLATION_UNIT)
#define NEON_ISA_KERNEL_TABLE_GETTER(Table) Table
#else
#define NEON_ISA_KERNEL_TABLE_GETTER(Table) inline Table
#endif
