// Optional system libraries loaded at run time (cuBLAS, NCCL, libmpi): nothing links against them,
// so a machine without one still runs, and the error says what was tried. One policy for all:
// <ENV>=off|none|0 disables the library; <ENV>=<path> makes that file the only candidate (a typo
// must not load another library); otherwise the default candidates in order. A candidate is kept
// only when every required symbol resolves; it is never dlclose'd once taken.
#pragma once
#include <dlfcn.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace biofeg::dl {

template <typename Api>
struct Loaded {
  Api api;
  bool ok = false;
  std::string reason;
};

template <typename Fn>
bool sym(void* lib, const char* name, Fn& out) {
  void* p = dlsym(lib, name);
  out = reinterpret_cast<Fn>(p);
  return p != nullptr;
}

// dlopen, or nullptr with "\n  path: reason" appended to why.
inline void* open(const std::string& path, int flags, std::string& why) {
  void* lib = dlopen(path.c_str(), flags);
  if (!lib) {
    const char* e = dlerror();
    why += "\n  " + path + ": " + (e ? e : "not found");
  }
  return lib;
}

// A candidate that opened but does not fit: closed, and why it was left.
inline bool reject(void* lib, const std::string& path, const std::string& what, std::string& why) {
  why += "\n  " + path + ": " + what;
  dlclose(lib);
  return false;
}

// dir + suffix for each directory of a colon-separated list (BIOFEG_PYTHON_SITE_PACKAGES: the
// pip wheels' copies of NVIDIA's libraries) and each suffix.
inline std::vector<std::string> under_dirs(const char* list, const std::vector<const char*>& suffixes) {
  std::vector<std::string> out;
  if (!list || !*list) return out;
  const std::string all = list;
  for (size_t start = 0; start <= all.size();) {
    const size_t end = all.find(':', start);
    const std::string dir = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty())
      for (const char* s : suffixes) out.push_back(dir + s);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

template <typename Api>
using TryOpen = std::function<bool(const std::string& path, Api& api, std::string& why)>;

// The policy above; `what` names the library in messages ("libnccl"), `hint` ends a failure.
template <typename Api>
Loaded<Api> load(const char* env_name, const char* what, const std::vector<std::string>& candidates,
                 const TryOpen<Api>& try_open, const std::string& hint = "") {
  Loaded<Api> L;
  const char* env = std::getenv(env_name);
  const std::string v = env ? env : "";
  if (v == "off" || v == "none" || v == "0") {
    L.reason = std::string("disabled by ") + env_name + "=" + v;
    return L;
  }
  std::string why = std::string(what) + " not found:";
  if (!v.empty()) {
    L.ok = try_open(v, L.api, why);
    if (!L.ok) L.reason = std::string(env_name) + "=" + v + " could not be used:" + why.substr(why.find(':') + 1);
    return L;
  }
  for (const std::string& c : candidates)
    if (try_open(c, L.api, why)) {
      L.ok = true;
      return L;
    }
  L.reason = why + hint;
  return L;
}

}  // namespace biofeg::dl
