// biofeg_tables: every backend's table linked into an executable. The addon is a shared library,
// where a kernel missing from a backend's family files only fails when it is loaded (undefined
// symbol); here it fails the build. Run, it checks each table is complete (require_complete).
#include <cstdio>

#include "../core/device.h"
#include "../ops.h"

int main() {
  using namespace biofeg;
  require_complete(ref_backend());
  require_complete(cpu_backend());
  if (const Backend* c = cuda::backend()) require_complete(*c);
  std::printf("backend tables complete: %d ops\n", kOpCount);
  return 0;
}
