# Turns a .cu file into C++ that g++ compiles against cuemu (see include/cuemu.h): the launch
# syntax `kernel<<<cfg>>>(args)` becomes `::cuemu::launch(::cuemu::Cfg(cfg), <lambda calling kernel>)(args)`
# and `extern __shared__ T name[];` a pointer to the launch's dynamic shared memory.
# Usage: cmake -DIN=file.cu -DOUT=file.cpp -P rewrite.cmake
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_]*(<[^<>;{}]*>)?)<<<(([^>]|>[^>]|>>[^>])*)>>>"
       "::cuemu::launch(::cuemu::Cfg(\\3), [&](auto&... cuemu_a) { \\1(cuemu_a...); })" src "${src}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_0-9]+) ([A-Za-z_0-9]+)\\[\\];"
       "\\1* \\2 = static_cast<\\1*>(::cuemu::dyn_smem());" src "${src}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by native/cuda/emu/rewrite.cmake: do not edit.\n#line 1 \"${IN}\"\n${src}")
file(RENAME "${OUT}.tmp" "${OUT}")
