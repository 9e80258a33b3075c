#include "backends.h"

#include "core/device.h"
#include "core/error.h"

namespace biofeg {

bool device_available(Device d, std::string* why) {
  if (d == Device::CPU) return true;
  if (!cuda::compiled()) {
    if (why) *why = "this build has no CUDA backend (built with BIOFEG_CUDA=OFF or without nvcc)";
    return false;
  }
  if (cuda::device_count() == 0) {
    if (why) *why = "no CUDA device is available";
    return false;
  }
  return true;
}

namespace {
// The host tables are checked once, the first time either is handed out.
const Backend& checked(const Backend& be) {
  static const bool once = (require_complete(ref_backend()), require_complete(cpu_backend()), true);
  (void)once;
  return be;
}
const Backend& cuda_backend(const char* asked) {
  std::string why;
  if (!device_available(Device::CUDA, &why)) fail_as(ErrorKind::Device, "backend '", asked, "': ", why);  // JS: DeviceUnavailableError
  static const Backend* b = [] {
    const Backend* c = cuda::backend();
    BIOFEG_CHECK(c != nullptr, "backend 'cuda': the CUDA runtime returned no table");
    require_complete(*c);
    return c;
  }();
  return *b;
}
}  // namespace

const Backend& backend_named(const std::string& name) {
  if (name == "ref") return checked(ref_backend());
  if (name == "cpu") return checked(cpu_backend());
  if (name == "cuda") return cuda_backend("cuda");
  if (name == "auto") return device_available(Device::CUDA) ? cuda_backend("auto") : checked(cpu_backend());
  fail("unknown backend '", name, "' (expected 'ref', 'cpu', 'cuda' or 'auto')");
}

const Backend& backend_for(Device d) { return d == Device::CUDA ? cuda_backend("cuda") : checked(cpu_backend()); }

void synchronize(Device d) {
  if (d == Device::CUDA) cuda::synchronize();
}

Device device_named(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  fail("device must be 'cpu' or 'cuda', got '", name, "'");
}

}  // namespace biofeg
