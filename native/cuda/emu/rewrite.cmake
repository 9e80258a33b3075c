# Turns a .cu file into C++ that g++ compiles against cuemu (see include/cuemu.h): the launch
# syntax `kernel<<<cfg>>>(args)` becomes `::cuemu::launch(::cuemu::Cfg(cfg), <lambda calling kernel>)(args)`
# and `extern __shared__ T name[];` a pointer to the launch's dynamic shared memory.
# Usage: cmake -DIN=file.cu -DOUT=file.cpp -P rewrite.cmake
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_]*(<[^<>;{}]*>)?)<<<(([^>]|>[^>]|>>[^>])*)>>>"
       "::cuemu::launch(::cuemu::Cfg(\\3), [&](auto&... cuemu_a) { \\1(cuemu_a...); })" src "${src}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_0-9]+) ([A-Za-z_0-9]+)\\[\\];"
       "\\1* \\2 = static_cast<\\1*>(::cuemu::dyn_smem());" src "${src}")
# `__shared__ [__align__(A)] T name[dims];` becomes a reference into the block's static
# shared-memory arena, keyed by a tag that is distinct per declaration and per template
# instantiation; the arena is poisoned before every block (template statics cannot be).
string(REGEX REPLACE "__shared__ __align__\\(([0-9]+)\\) ([A-Za-z_][A-Za-z0-9_:]*) ([A-Za-z_][A-Za-z0-9_]*)((\\[[^];]*\\])*);"
       "static char cuemu_tag_\\3; auto& \\3 = ::cuemu::shared<\\2\\4>(&cuemu_tag_\\3, \\1);" src "${src}")
string(REGEX REPLACE "__shared__ ([A-Za-z_][A-Za-z0-9_:]*) ([A-Za-z_][A-Za-z0-9_]*)((\\[[^];]*\\])*);"
       "static char cuemu_tag_\\2; auto& \\2 = ::cuemu::shared<\\1\\3>(&cuemu_tag_\\2, alignof(\\1));" src "${src}")
string(REGEX MATCH "[^\n]*__shared__[^\n]*" left "${src}")
if(left)
  message(FATAL_ERROR "cuemu rewrite: ${IN}: a __shared__ declaration it cannot handle (one name per declaration): ${left}")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by native/cuda/emu/rewrite.cmake: do not edit.\n#line 1 \"${IN}\"\n${src}")
file(RENAME "${OUT}.tmp" "${OUT}")
